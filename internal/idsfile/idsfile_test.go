package idsfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// record is one record of the old job's logs (docs/sunbird.md, the old job).
func record(n int, objectType string, ids ...string) string {
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = `"` + id + `"`
	}
	return fmt.Sprintf("\nRequest No : %d\nRequest : {\"params\":{},\"request\":{\"objectType\":%q,\"objectIds\":[%s],\"operationFor\":\"es\"}}\nResponse : {\"responseCode\":\"SERVER_ERROR\",\"result\":{}}\n",
		n, objectType, strings.Join(quoted, ","))
}

func TestRead(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  Result
	}{
		{
			name:  "empty",
			input: "",
			want:  Result{},
		},
		{
			name:  "plain ids",
			input: "u-1\nu-2\nu-3\n",
			want:  Result{IDs: []string{"u-1", "u-2", "u-3"}},
		},
		{
			name:  "no final newline",
			input: "u-1\nu-2",
			want:  Result{IDs: []string{"u-1", "u-2"}},
		},
		{
			name:  "blank lines, comments and surrounding whitespace",
			input: "# users to resync\n\n  u-1  \n\t u-2\n   \n#u-3\n  # indented comment\nu-4 # not a comment\n",
			want: Result{
				IDs:          []string{"u-1", "u-2"},
				Skipped:      []BadLine{{LineNo: 8, Text: "u-4 # not a comment", Reason: "contains whitespace"}},
				SkippedTotal: 1,
			},
		},
		{
			name:  "CRLF",
			input: "id\r\nu-1\r\n\r\nu-2\r\n# c\r\n" + strings.ReplaceAll(record(1, "user", "u-3"), "\n", "\r\n"),
			want:  Result{IDs: []string{"u-1", "u-2", "u-3"}, ObjectTypes: []string{"user"}},
		},
		{
			name:  "our failed-ids file",
			input: "5d7f2f8b-0a1c-4a8e-9c1e-1a2b3c4d5e6f\n0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\n",
			want:  Result{IDs: []string{"5d7f2f8b-0a1c-4a8e-9c1e-1a2b3c4d5e6f", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"}},
		},
		{
			name:  "old userIds.csv with header",
			input: "id\nu-1\nu-2\n",
			want:  Result{IDs: []string{"u-1", "u-2"}},
		},
		{
			name:  "header with a byte order mark",
			input: "\ufeffid\r\nu-1\r\n",
			want:  Result{IDs: []string{"u-1"}},
		},
		{
			name:  "id is only a header on line 1",
			input: "u-1\nid\n",
			want:  Result{IDs: []string{"u-1", "id"}},
		},
		{
			name:  "old failure log",
			input: record(1, "user", "u-1", "u-2") + record(2, "user", "u-3"),
			want:  Result{IDs: []string{"u-1", "u-2", "u-3"}, ObjectTypes: []string{"user"}},
		},
		{
			name:  "old success log of organisations",
			input: record(1, "organisation", "o-1") + record(2, "organisation"),
			want:  Result{IDs: []string{"o-1"}, ObjectTypes: []string{"organisation"}},
		},
		{
			name: "our log: operationType and spaces inside the JSON",
			input: "\nRequest No : 7\nRequest : { \"params\": {}, \"request\": { \"objectType\": \"user\", \"objectIds\": [ \"u-1\" ], \"operationFor\": \"es\", \"operationType\": \"sync\" } }\n" +
				"Response : {\"result\": {\"response\":\"SUCCESS\",\"esSyncResponse\":{\"u-1\":false}}}\n",
			want: Result{IDs: []string{"u-1"}, ObjectTypes: []string{"user"}},
		},
		{
			name:  "multi-line response of the old job",
			input: "\nRequest No : 1\nRequest : {\"request\":{\"objectIds\":[\"u-1\"]}}\nResponse : <html>\n<body>\n502 Bad Gateway\n</html>\n\nRequest No : 2\nRequest : {\"request\":{\"objectIds\":[\"u-2\"]}}\nResponse : <html>\n</html>\nu-3\n",
			want: Result{
				IDs: []string{"u-1", "u-2", "u-3"},
				Skipped: []BadLine{
					{LineNo: 5, Text: "<body>", Reason: "continues the Response on line 4"},
					{LineNo: 6, Text: "502 Bad Gateway", Reason: "continues the Response on line 4"},
					{LineNo: 7, Text: "</html>", Reason: "continues the Response on line 4"},
					{LineNo: 12, Text: "</html>", Reason: "continues the Response on line 11"},
				},
				SkippedTotal: 4,
			},
		},
		{
			name:  "bad Request lines",
			input: "Request : {\"request\":{\"objectIds\":[\"u-1\",\n" + `Request : {"request":{"objectIds":"u-2"}}` + "\n" + `Request : {"request":{"objectIds":["u-3",42,null,"a b","",{"x":1},"u-4"]}}` + "\nRequest :\nRequest : {}\n",
			want: Result{
				IDs: []string{"u-3", "a b", "u-4"}, // an id is data: spaces too
				Skipped: []BadLine{
					{LineNo: 1, Text: `Request : {"request":{"objectIds":["u-1",`, Reason: "Request line without a valid JSON body"},
					{LineNo: 2, Text: `Request : {"request":{"objectIds":"u-2"}}`, Reason: "Request line without a valid JSON body"},
					{LineNo: 3, Text: "42", Reason: "objectIds entry is not a string"},
					{LineNo: 3, Text: "null", Reason: "objectIds entry is not a string"},
					{LineNo: 3, Text: "", Reason: "objectIds entry: empty id"},
					{LineNo: 3, Text: `{"x":1}`, Reason: "objectIds entry is not a string"},
					{LineNo: 4, Text: "Request :", Reason: "Request line without a valid JSON body"},
				},
				SkippedTotal: 7,
			},
		},
		{
			name: "garbage lines",
			input: "u-1\n" +
				"u-2,Priya\n" +
				"\"u-3\"\n" +
				"u 4\n" +
				"u-5;\n" +
				"{}\n" +
				"[u-6]\n" +
				"it's\n" +
				"nul\x00byte\n" +
				"bad\xffutf8\n" +
				strings.Repeat("x", 513) + "\n" +
				strings.Repeat("y", 512) + "\n" +
				"ünïcødé-✓\n" +
				"Request No: 1\n" +
				"u-7\n",
			want: Result{
				IDs: []string{"u-1", "u-3", strings.Repeat("y", 512), "ünïcødé-✓", "u-7"}, // "u-3" is a quoted id
				Skipped: []BadLine{
					{LineNo: 2, Text: "u-2,Priya", Reason: `contains ','`},
					{LineNo: 4, Text: "u 4", Reason: "contains whitespace"},
					{LineNo: 5, Text: "u-5;", Reason: `contains ';'`},
					{LineNo: 6, Text: "{}", Reason: `contains '{'`},
					{LineNo: 7, Text: "[u-6]", Reason: `contains '['`},
					{LineNo: 8, Text: "it's", Reason: `contains '\''`},
					{LineNo: 9, Text: "nul\x00byte", Reason: "contains a control character"},
					{LineNo: 10, Text: "bad\uFFFDutf8", Reason: "not valid UTF-8"},
					{LineNo: 11, Text: strings.Repeat("x", 79) + "…", Reason: "longer than 512 bytes"},
					{LineNo: 14, Text: "Request No: 1", Reason: "contains whitespace"},
				},
				SkippedTotal: 10,
			},
		},
		{
			name:  "dedupe keeps the first",
			input: "u-2\nu-1\nu-2\n" + record(1, "user", "u-3", "u-1", "u-3") + "u-3\n",
			want:  Result{IDs: []string{"u-2", "u-1", "u-3"}, Duplicates: 4, ObjectTypes: []string{"user"}},
		},
		{
			name: "mixed file",
			input: "id\n" + // userIds.csv header
				"# from the failed-ids of last night\n" +
				"u-1\nu-2\n" +
				record(1, "user", "u-3", "u-2") +
				"\n" +
				"garbage here\n" +
				"u-4\r\n" +
				record(2, "organisation", "o-1"),
			want: Result{
				IDs:          []string{"u-1", "u-2", "u-3", "u-4", "o-1"},
				Skipped:      []BadLine{{LineNo: 10, Text: "garbage here", Reason: "contains whitespace"}},
				SkippedTotal: 1,
				Duplicates:   1,
				ObjectTypes:  []string{"user", "organisation"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(strings.NewReader(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Read (-want +got):\n%s", diff)
			}
			// Reading a byte at a time exercises lines split across reads.
			got, err = Read(iotest.OneByteReader(strings.NewReader(tt.input)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Read one byte at a time (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHugeRequestLine reads a Request line of 200,000 ids (about 8 MiB),
// far beyond bufio.Scanner's default 64 KiB.
func TestHugeRequestLine(t *testing.T) {
	const n = 200_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%08d-0a1c-4a8e-9c1e-1a2b3c4d5e6f", i)
	}
	input := record(1, "user", ids...) + "after\n"
	if len(input) < 4<<20 {
		t.Fatalf("input only %d bytes", len(input))
	}
	got, err := Read(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	// slices.Equal first: a cmp.Diff of 200,000 strings takes seconds.
	if want := append(ids, "after"); !slices.Equal(want, got.IDs) {
		t.Errorf("got %d ids, want %d (first %q, last %q)", len(got.IDs), len(want), got.IDs[:1], got.IDs[len(got.IDs)-1:])
	}
	got.IDs = nil
	want := Result{ObjectTypes: []string{"user"}}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
}

// TestLineTooLong checks that a line beyond MaxLineBytes is reported and
// skipped, and reading goes on after it.
func TestLineTooLong(t *testing.T) {
	long := "Request : " + strings.Repeat("z", MaxLineBytes)
	got, err := Read(io.MultiReader(strings.NewReader("u-1\n"+long), strings.NewReader("\nu-2\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := Result{
		IDs:          []string{"u-1", "u-2"},
		Skipped:      []BadLine{{LineNo: 2, Text: "Request : " + strings.Repeat("z", 69) + "…", Reason: "longer than 16 MiB"}},
		SkippedTotal: 1,
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"short", "abc", "abc"},
		{"80 exactly", strings.Repeat("a", 80), strings.Repeat("a", 80)},
		{"81", strings.Repeat("a", 81), strings.Repeat("a", 79) + "…"},
		{"80 multibyte", strings.Repeat("é", 80), strings.Repeat("é", 80)},
		{"long multibyte", strings.Repeat("€", 200), strings.Repeat("€", 79) + "…"},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := truncate([]byte(tt.in)); got != tt.want {
				t.Errorf("truncate = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSkippedCap(t *testing.T) {
	input := strings.Repeat("bad line\n", MaxBadLines+5) + "u-1\n"
	got, err := Read(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Skipped) != MaxBadLines || got.SkippedTotal != MaxBadLines+5 {
		t.Errorf("kept %d bad lines of %d, want %d of %d", len(got.Skipped), got.SkippedTotal, MaxBadLines, MaxBadLines+5)
	}
	if diff := cmp.Diff([]string{"u-1"}, got.IDs); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Read(io.MultiReader(strings.NewReader("u-1\nu-2\n"), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("got error %v, want one wrapping boom at line 3", err)
	}
}

func TestReadFile(t *testing.T) {
	got, err := ReadFile(context.Background(), filepath.Join("testdata", "userSyncFailure_1695211344452.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := Result{
		IDs: []string{"5d7f2f8b-0a1c-4a8e-9c1e-1a2b3c4d5e6f", "8e2c1f0a-7b3d-4c5e-8f9a-0b1c2d3e4f50", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
		Skipped: []BadLine{
			{LineNo: 9, Text: "<head><title>502 Bad Gateway</title></head>", Reason: "continues the Response on line 8"},
			{LineNo: 10, Text: "<body>", Reason: "continues the Response on line 8"},
			{LineNo: 11, Text: "<center><h1>502 Bad Gateway</h1></center>", Reason: "continues the Response on line 8"},
			{LineNo: 12, Text: "<hr><center>nginx</center>", Reason: "continues the Response on line 8"},
			{LineNo: 13, Text: "</body>", Reason: "continues the Response on line 8"},
			{LineNo: 14, Text: "</html>", Reason: "continues the Response on line 8"},
		},
		SkippedTotal: 6,
		ObjectTypes:  []string{"user"},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("ReadFile (-want +got):\n%s", diff)
	}
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.txt")
	_, err := ReadFile(context.Background(), missing)
	if want := "ids file " + missing + " does not exist (check --ids-file)"; err == nil || err.Error() != want {
		t.Errorf("missing file: got %v, want %q", err, want)
	}
	_, err = ReadFile(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "is a directory") || !strings.Contains(err.Error(), "check --ids-file") {
		t.Errorf("directory: got %v", err)
	}
	if os.Geteuid() != 0 {
		p := filepath.Join(dir, "secret.txt")
		if err := os.WriteFile(p, []byte("u-1\n"), 0o000); err != nil {
			t.Fatal(err)
		}
		_, err = ReadFile(context.Background(), p)
		if err == nil || !strings.Contains(err.Error(), "permission denied") || !strings.Contains(err.Error(), "check --ids-file") {
			t.Errorf("unreadable: got %v", err)
		}
	}
}

func TestBadLineString(t *testing.T) {
	got := BadLine{LineNo: 3, Text: "a b", Reason: "contains whitespace"}.String()
	if want := `line 3: contains whitespace: "a b"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// BenchmarkReadPlain reads 100,000 plain uuid lines.
func BenchmarkReadPlain(b *testing.B) {
	var sb strings.Builder
	for i := range 100_000 {
		fmt.Fprintf(&sb, "%08d-0a1c-4a8e-9c1e-1a2b3c4d5e6f\n", i)
	}
	input := sb.String()
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(strings.NewReader(input)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLineRoundTrip: every id Check accepts survives being written with
// Line and read back, one a line, among others: line breaks, quotes, spaces
// and comment-like ids included.
func TestLineRoundTrip(t *testing.T) {
	ids := []string{"u-1", "with\nnewline", "cr\r", " spaced ", "tab\tin", `"quoted"`, "#not-a-comment", "id",
		"a,b", "nul\x00", "ünï ✓", strings.Repeat("z", MaxIDBytes), "Request : x", "\u2028"}
	var sb strings.Builder
	for _, id := range ids {
		if err := Check(id); err != nil {
			t.Fatalf("Check(%q): %v", id, err)
		}
		line := Line(id)
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("Line(%q) = %q spans lines", id, line)
		}
		sb.WriteString(line + "\n")
	}
	got, err := Read(strings.NewReader(sb.String()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ids, got.IDs); diff != "" || got.SkippedTotal != 0 {
		t.Errorf("read back (-want +got):\n%s\nskipped %v", diff, got.Skipped)
	}
}

func FuzzLineRoundTrip(f *testing.F) {
	for _, s := range []string{"u-1", "a\nb", " x ", `"`, "#", "id"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if Check(id) != nil {
			return
		}
		got, err := Read(strings.NewReader(Line(id) + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		if len(got.IDs) != 1 || got.IDs[0] != id {
			t.Errorf("Line(%q) = %q read back as %q (skipped %v)", id, Line(id), got.IDs, got.Skipped)
		}
	})
}

func TestCheck(t *testing.T) {
	for id, want := range map[string]string{
		"u-1": "", "a b\n": "", "": "empty id", strings.Repeat("x", 513): "longer than 512",
		"bad\xff": "not valid UTF-8",
	} {
		err := Check(id)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("Check(%q) = %v, want %q", id, err, want)
		}
	}
}

// TestReadFileEndsWithContext: a read blocked on a pipe whose writer has
// stalled ends when the context does (SIGTERM while an ids file is read).
func TestReadFileEndsWithContext(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "ids")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		_, _ = w.WriteString("u1\nu2\n")
		time.Sleep(time.Minute) // a writer that stalls, holding the pipe open
		_ = w.Close()
	}()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	done := make(chan error, 1)
	go func() {
		_, err := ReadFile(ctx, fifo)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ReadFile = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReadFile still blocked 10 s after its context ended")
	}
}

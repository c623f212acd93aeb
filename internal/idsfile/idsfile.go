// Package idsfile is the one rule for object ids at every door — the Sync
// API, ids files, Cassandra rows (Check) — and the one way ids are written
// to every file indexsync makes (Line), which is read back by
// `indexsync run --ids-file`: the ids to sync, whatever form the operator
// has them in. Each line is recognised on its own, so one file may mix
// forms:
//
//   - plain ids, one a line: our failed-ids_<ms>.txt, an old userIds.csv
//     (whose first line may be the header "id"), a hand-made list. Blank
//     lines and lines starting with # are ignored; surrounding whitespace
//     and a trailing \r are removed.
//   - quoted ids: a line that is a JSON string ("…") holds one id exactly,
//     line breaks, control characters and surrounding spaces included;
//     Line writes every id that a plain line could not carry that way.
//   - records of the old job's success and failure logs (docs/sunbird.md, the old job), and
//     of ours, which keep the format: the ids come from
//     request.objectIds of the JSON on each "Request : " line; the
//     "Request No : " and "Response : " lines are structure.
//
// Lines that are none of these are reported with their numbers and skipped,
// never fatal: a file with some garbage still yields its good ids.
//
// The file is streamed (lines up to 16 MiB, the longest a Request line could
// plausibly be; longer ones are reported and skipped), and memory grows with
// the number of distinct ids only.
package idsfile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

const (
	// MaxLineBytes is the longest line read; a longer one is a BadLine.
	MaxLineBytes = 16 << 20
	// MaxIDBytes is the longest valid id: Elasticsearch's own limit of a
	// document _id, far below Cassandra's 65,535-byte key.
	MaxIDBytes = 512
	// MaxBadLines is how many BadLines a Result keeps; SkippedTotal counts
	// them all.
	MaxBadLines = 1000
	// maxText is how many characters of a bad line a BadLine keeps.
	maxText = 80
)

// Result is what a file holds.
type Result struct {
	// IDs are the valid ids in file order, each once (its first occurrence).
	IDs []string
	// Skipped are the lines (or ids inside Request lines) that were not valid,
	// the first MaxBadLines of them.
	Skipped []BadLine
	// SkippedTotal counts all skipped lines, also those beyond MaxBadLines.
	SkippedTotal int
	// Duplicates counts the valid ids left out because they came before.
	Duplicates int
	// ObjectTypes are the distinct request.objectType values of the Request
	// lines, in order of first appearance: a caller can refuse to sync the
	// ids of an organisation failure log as users.
	ObjectTypes []string
}

// BadLine is a skipped line.
type BadLine struct {
	LineNo int    // 1-based
	Text   string // the line (or the bad id of a Request line), at most 80 characters
	Reason string // why it was skipped
}

func (b BadLine) String() string { return fmt.Sprintf("line %d: %s: %q", b.LineNo, b.Reason, b.Text) }

// Check reports why id cannot be synced, or nil: an id is 1 to MaxIDBytes
// bytes of UTF-8. Everything else — spaces, line breaks, quotes — is data.
func Check(id string) error {
	switch {
	case id == "":
		return errors.New("empty id")
	case len(id) > MaxIDBytes:
		return fmt.Errorf("id of %d bytes, longer than %d (Elasticsearch's limit of a document id)", len(id), MaxIDBytes)
	case !utf8.ValidString(id):
		return errors.New("id is not valid UTF-8")
	}
	return nil
}

// Line is id as a line of an ids file (without the newline): the id
// itself when a plain line carries it unchanged, else a JSON string.
func Line(id string) string {
	if plain(id) {
		return id
	}
	b, _ := json.Marshal(id) // a string always marshals
	return string(b)
}

// plain reports whether id read back from a plain line would be id: no
// surrounding or inner whitespace, no control characters, not empty, not a
// comment, not quoted, none of the characters plain lines refuse.
func plain(id string) bool {
	return invalid([]byte(id)) == "" && id[0] != '#' && id != "id"
}

// ReadFile reads the ids file at path; it stops when ctx ends (a SIGTERM
// while a large file is read).
func ReadFile(ctx context.Context, path string) (Result, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("ids file %s does not exist (check --ids-file)", path)
	}
	if err != nil {
		return Result{}, fmt.Errorf("open ids file: %w (check --ids-file)", err)
	}
	defer func() { _ = f.Close() }() // read only
	// A read blocked on a pipe or a stalled network file system ends when ctx
	// does (SIGTERM): the deadline interrupts it where the file supports
	// one; a regular file's reads do not block long, and ctxReader checks
	// ctx between them.
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	defer stop()
	res, err := Read(ctxReader{ctx, f})
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if err != nil {
		return res, fmt.Errorf("read ids file %s: %w (check --ids-file)", path, err)
	}
	return res, nil
}

// Read reads ids from r. It fails only when r does; bad lines end up in
// Result.Skipped.
func Read(r io.Reader) (Result, error) {
	return read(r)
}

// ctxReader ends a read when its context does.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func read(r io.Reader) (Result, error) {
	rd := &reader{
		br:   bufio.NewReaderSize(r, 64<<10),
		seen: map[string]struct{}{},
	}
	return rd.run()
}

type reader struct {
	br   *bufio.Reader
	line []byte // the current line when it spans several buffers
	res  Result
	seen map[string]struct{}
	// response is the number of the "Response : " line whose record we are
	// in, 0 outside one (until a blank or Request line). The old job wrote
	// response bodies as they came, so a multi-line body (a gateway's HTML
	// error page) continues on the next lines, and some of them pass as ids
	// ("<body>", "</html>"). There, lines with < or > are taken as part of the
	// response; other valid ids are kept, because a file made by appending
	// plain ids to a log has them right after its last Response line.
	response int
}

var (
	bom            = []byte("\xef\xbb\xbf")
	prefixRequest  = []byte("Request :")
	prefixReqNo    = []byte("Request No :")
	prefixResponse = []byte("Response :")
)

func (rd *reader) run() (Result, error) {
	for n := 1; ; n++ {
		line, tooLong, err := rd.next()
		if err == io.EOF && line == nil {
			return rd.res, nil
		}
		if err != nil && err != io.EOF {
			return rd.res, fmt.Errorf("line %d: %w", n, err)
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, bom)
		}
		if tooLong {
			rd.bad(n, line, fmt.Sprintf("longer than %d MiB", MaxLineBytes>>20))
		} else {
			rd.parse(n, line)
		}
		if err == io.EOF {
			return rd.res, nil
		}
	}
}

// next returns the next line without its \n. A line longer than
// MaxLineBytes is cut there and its rest discarded (tooLong). At the end of
// input it returns io.EOF, with the last line if it had no \n.
func (rd *reader) next() (line []byte, tooLong bool, err error) {
	rd.line = rd.line[:0]
	for {
		chunk, err := rd.br.ReadSlice('\n')
		if !tooLong {
			if len(rd.line)+len(chunk) > MaxLineBytes+1 { // +1: the \n
				tooLong = true
				rd.line = append(rd.line, chunk[:min(len(chunk), maxText*utf8.UTFMax)]...)
			} else {
				rd.line = append(rd.line, chunk...)
			}
		}
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil:
			return bytes.TrimSuffix(rd.line, []byte("\n")), tooLong, nil
		case io.EOF:
			if len(rd.line) == 0 {
				return nil, false, io.EOF
			}
			return rd.line, tooLong, io.EOF
		default:
			return nil, false, err
		}
	}
}

func (rd *reader) parse(n int, raw []byte) {
	line := bytes.TrimSpace(raw) // also the \r of CRLF
	switch {
	case len(line) == 0:
		rd.response = 0
	case line[0] == '#':
	case bytes.HasPrefix(line, prefixReqNo):
		rd.response = 0
	case bytes.HasPrefix(line, prefixRequest):
		rd.response = 0
		rd.request(n, line)
	case bytes.HasPrefix(line, prefixResponse):
		rd.response = n
	case n == 1 && string(line) == "id":
		// the header of a userIds.csv
	case line[0] == '"':
		rd.quoted(n, raw)
	default:
		reason := invalid(line)
		if rd.response > 0 && (reason != "" || bytes.ContainsAny(line, "<>")) {
			reason = fmt.Sprintf("continues the Response on line %d", rd.response)
		}
		if reason != "" {
			rd.bad(n, line, reason)
			return
		}
		rd.add(string(line))
	}
}

// quoted takes the id of a line that is a JSON string (Line wrote it).
func (rd *reader) quoted(n int, raw []byte) {
	var id string
	if err := json.Unmarshal(bytes.TrimSpace(raw), &id); err != nil {
		rd.bad(n, raw, "a quoted id that is not a JSON string")
		return
	}
	if err := Check(id); err != nil {
		rd.bad(n, []byte(id), err.Error())
		return
	}
	rd.add(id)
}

// request takes the ids out of a "Request : <json body>" line.
func (rd *reader) request(n int, line []byte) {
	var body struct {
		Request struct {
			ObjectType any               `json:"objectType"`
			ObjectIDs  []json.RawMessage `json:"objectIds"`
		} `json:"request"`
	}
	js := bytes.TrimSpace(line[len(prefixRequest):])
	if err := json.Unmarshal(js, &body); err != nil {
		rd.bad(n, line, "Request line without a valid JSON body")
		return
	}
	if t, ok := body.Request.ObjectType.(string); ok && !contains(rd.res.ObjectTypes, t) {
		rd.res.ObjectTypes = append(rd.res.ObjectTypes, t)
	}
	for _, raw := range body.Request.ObjectIDs {
		var id string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &id) != nil {
			rd.bad(n, raw, "objectIds entry is not a string")
			continue
		}
		if err := Check(id); err != nil {
			rd.bad(n, []byte(id), "objectIds entry: "+err.Error())
			continue
		}
		rd.add(id)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (rd *reader) add(id string) {
	if _, dup := rd.seen[id]; dup {
		rd.res.Duplicates++
		return
	}
	rd.seen[id] = struct{}{}
	rd.res.IDs = append(rd.res.IDs, id)
}

func (rd *reader) bad(n int, text []byte, reason string) {
	rd.res.SkippedTotal++
	if len(rd.res.Skipped) < MaxBadLines {
		rd.res.Skipped = append(rd.res.Skipped, BadLine{LineNo: n, Text: truncate(text), Reason: reason})
	}
}

// truncate returns text as valid UTF-8 of at most maxText characters, the
// last one "…" when it was cut.
func truncate(text []byte) string {
	cut := false
	if len(text) > maxText*utf8.UTFMax {
		text, cut = text[:maxText*utf8.UTFMax], true
	}
	s := strings.ToValidUTF8(string(text), "\uFFFD")
	if !cut && utf8.RuneCountInString(s) <= maxText {
		return s
	}
	n := 0
	for i := range s {
		if n == maxText-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s + "…"
}

// invalid returns why a plain line is not an id, or "" when it is: 1 to
// MaxIDBytes bytes of UTF-8 without whitespace, control characters or any of
// "',;{}[] — so that garbage (a line of an HTML error page) is not taken
// for an id. Ids with those are written quoted (Line).
func invalid(id []byte) string {
	switch {
	case len(id) == 0:
		return "empty"
	case len(id) > MaxIDBytes:
		return fmt.Sprintf("longer than %d bytes", MaxIDBytes)
	case !utf8.Valid(id):
		return "not valid UTF-8"
	}
	for _, r := range string(id) {
		switch {
		case unicode.IsSpace(r):
			return "contains whitespace"
		case unicode.IsControl(r):
			return "contains a control character"
		case strings.ContainsRune(`"',;{}[]`, r):
			return fmt.Sprintf("contains %q", r)
		}
	}
	return ""
}

// CheckPath reports why path cannot be an ids file, before any work starts.
func CheckPath(path string) error {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		return fmt.Errorf("--ids-file: %w", err)
	case st.IsDir():
		return fmt.Errorf("--ids-file %s is a directory", path)
	}
	return nil
}

// Identity names the file's content as far as a resumed run needs to know
// it is the same file: absolute path, size and modification time.
func Identity(path string) string {
	abs, _ := filepath.Abs(path)
	st, err := os.Stat(path)
	if err != nil {
		return abs
	}
	return abs + "|" + strconv.FormatInt(st.Size(), 10) + "|" + st.ModTime().UTC().String()
}

// Shard keeps the ids of slice i of n (0 ≤ i < n), chosen by a hash of the
// id: with an ids file there is no token ring to cut, and every process of
// an N-way run must agree without talking.
func Shard(ids []string, i, n int) []string {
	if n <= 1 {
		return ids
	}
	var out []string
	for _, id := range ids {
		h := fnv.New32a()
		_, _ = h.Write([]byte(id))
		if int(h.Sum32()%uint32(n)) == i {
			out = append(out, id)
		}
	}
	return out
}

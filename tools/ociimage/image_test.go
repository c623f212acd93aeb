package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

const testVersion = "v0.0.0-imagetest"

// buildIndexsync builds the product's binary as make image does: static,
// -trimpath, version and commit stamped.
func buildIndexsync(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "indexsync")
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X github.com/indexsync/indexsync/internal/buildinfo.Version="+testVersion+
			" -X github.com/indexsync/indexsync/internal/buildinfo.Commit=0000000",
		"-o", out, "./cmd/indexsync")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// TestImage builds the image as make image does, unpacks it, checks what
// it holds and runs the binary from it.
func TestImage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("runs the image's linux binary")
	}
	dir := t.TempDir()
	platform := "linux/" + runtime.GOARCH
	c := Config{
		Binaries: map[string]string{platform: buildIndexsync(t, dir)},
		License:  "../../LICENSE",
		Notices:  "../../THIRD_PARTY_LICENSES",
		Version:  testVersion,
		Commit:   "0000000",
		Created:  time.Date(2026, 11, 26, 1, 47, 8, 0, time.UTC),
	}
	archive := writeArchive(t, c)
	again := writeArchive(t, c)
	if !bytes.Equal(archive, again) {
		t.Errorf("two builds of the same inputs differ: the image is not reproducible")
	}
	t.Logf("OCI archive: %d bytes", len(archive))

	img := imageFromArchive(t, archive, dir, platform)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root)", cfg.Config.User)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/indexsync"}) {
		t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
	}
	if cfg.Config.WorkingDir != "/state" {
		t.Errorf("working dir %q, want /state (the default --state-dir is .)", cfg.Config.WorkingDir)
	}
	for k, v := range c.Labels() {
		if cfg.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Config.Labels[k], v)
		}
	}
	size, err := pullSize(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s: user %s, entrypoint %q, workdir %s, %.1f MiB to pull (config and compressed layers)",
		platform, cfg.Config.User, cfg.Config.Entrypoint, cfg.Config.WorkingDir, float64(size)/(1<<20))
	if size > 30<<20 {
		t.Errorf("the image is %d bytes: more than the binary and certificates should make", size)
	}

	// The layers hold exactly this: no shell, no package manager, no source.
	rootfs := filepath.Join(dir, "rootfs")
	got := unpack(t, img, rootfs)
	want := []string{
		"etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt",
		"home/", "home/nonroot/", "root/", "state/", "tmp/",
		"usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/indexsync",
		"usr/share/", "usr/share/doc/", "usr/share/doc/indexsync/", "usr/share/doc/indexsync/LICENSE",
		"usr/share/doc/indexsync/THIRD_PARTY_LICENSES",
	}
	if !slices.Equal(got, want) {
		t.Errorf("the layers hold\n%q\nwant\n%q", got, want)
	}
	for _, p := range got {
		switch path.Base(p) {
		case "sh", "bash", "dash", "ash", "busybox", "apt", "apk", "go.mod":
			t.Errorf("the image holds %s", p)
		}
		if strings.HasSuffix(p, ".go") {
			t.Errorf("the image holds source: %s", p)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(rootfs, "etc/passwd"))
	if !regexp.MustCompile(`(?m)^nonroot:x:65532:65532:`).Match(passwd) {
		t.Errorf("/etc/passwd has no user 65532:\n%s", passwd)
	}
	pemData, _ := os.ReadFile(filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt"))
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) || len(pemData) < 100_000 {
		t.Errorf("the CA bundle (%d bytes) does not parse", len(pemData))
	}

	bin := filepath.Join(rootfs, "usr/local/bin/indexsync")
	out, code := runBinary(t, nil, bin, "version")
	t.Logf("$ indexsync version   (from the unpacked image)\n%s", out)
	if code != 0 || !strings.Contains(out, "indexsync "+testVersion+" (commit 0000000, go") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	out, code = runBinary(t, nil, bin, "run", "--help")
	if code != 0 || !strings.Contains(out, "--shard") || !strings.Contains(out, "--resume") {
		t.Errorf("run --help: exit %d\n%s", code, out)
	}
	t.Logf("$ indexsync run --help | head -3\n%s", firstLines(out, 3))

	// As in a container: the image's filesystem as the root, user 65532.
	// /state must be writable for that user: run gets past its state-dir
	// check (exit 2 otherwise) and fails on the unreachable Cassandra (3).
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI: the chroot check needs root")
		}
		t.Skip("the chroot check needs root")
	}
	jail := &syscall.SysProcAttr{Chroot: rootfs, Credential: &syscall.Credential{Uid: UID, Gid: UID}}
	out, code = runBinary(t, jail, "/usr/local/bin/indexsync", "version")
	if code != 0 {
		t.Errorf("version as 65532 in the image's root: exit %d\n%s", code, out)
	}
	out, code = runBinary(t, jail, "/usr/local/bin/indexsync", "run", "--target", "search",
		"--cassandra-hosts", "127.0.0.1", "--cassandra-port", "1", "--cassandra-timeout", "2s", "--progress", "never")
	t.Logf("$ indexsync run … (chroot, uid 65532, workdir /state): exit %d\n%s", code, firstLines(out, 2))
	if code != 3 {
		t.Errorf("run in the image as 65532 with an unreachable Cassandra: exit %d, want 3\n%s", code, out)
	}
}

func writeArchive(t *testing.T, c Config) []byte {
	t.Helper()
	idx, err := Build(c)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := WriteArchive(w, idx, c.Version, c.Created); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// imageFromArchive unpacks the OCI archive and reads it back as a registry
// client would: index.json → the tagged index → the platform's image.
func imageFromArchive(t *testing.T, archive []byte, dir, platform string) v1.Image {
	t.Helper()
	lay := filepath.Join(dir, "layout")
	if err := os.MkdirAll(lay, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(lay, h.Name)
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	top, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != testVersion {
		t.Fatalf("index.json: %+v, want one index tagged %s", tm.Manifests, testVersion)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range im.Manifests {
		if m.Platform != nil && m.Platform.OS+"/"+m.Platform.Architecture == platform {
			img, err := idx.Image(m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("no image for %s in %+v", platform, im.Manifests)
	return nil
}

// unpack extracts the image's layers in order into root (owners too when
// running as root) and returns every path the layers hold, sorted.
func unpack(t *testing.T, img v1.Image, root string) []string {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			paths = append(paths, h.Name)
			p := filepath.Join(root, h.Name)
			switch h.Typeflag {
			case tar.TypeDir:
				if err := os.MkdirAll(p, 0o755); err != nil {
					t.Fatal(err)
				}
			case tar.TypeReg:
				data, err := io.ReadAll(tr)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, data, 0o600); err != nil {
					t.Fatal(err)
				}
			default:
				t.Errorf("%s: entry of type %c: the image should hold only files and directories", h.Name, h.Typeflag)
				continue
			}
			if err := os.Chmod(p, os.FileMode(h.Mode&0o777)|modeBits(h.Mode)); err != nil {
				t.Fatal(err)
			}
			if os.Geteuid() == 0 {
				if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
					t.Fatal(err)
				}
			}
		}
		rc.Close()
	}
	slices.Sort(paths)
	return paths
}

func modeBits(m int64) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

func runBinary(t *testing.T, attr *syscall.SysProcAttr, bin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = attr
	if attr != nil {
		cmd.Dir = "/state" // inside the chroot: the image's working directory
	}
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	out, err := cmd.CombinedOutput()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s %q: %v", bin, args, err)
	}
	return string(out), 0
}

func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "")
}

// TestDockerfile: the Dockerfile builds the same image on distroless: the
// same binary path, entrypoint, user, working directory, port, build flags
// and labels.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	for _, want := range []string{
		"FROM gcr.io/distroless/static-debian12:nonroot",
		`ENTRYPOINT ["` + BinaryPath + `"]`,
		"USER " + User,
		"WORKDIR " + StateDir,
		"EXPOSE " + strings.TrimSuffix(Port, "/tcp"),
		"CGO_ENABLED=0",
		"-trimpath",
		"-X github.com/indexsync/indexsync/internal/buildinfo.Version=",
		"-X github.com/indexsync/indexsync/internal/buildinfo.Commit=",
		"COPY --from=build /out/indexsync " + BinaryPath,
		"--chown=65532:65532",
		LicensePath,
		"COPY THIRD_PARTY_LICENSES " + NoticesPath,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	for k := range (Config{}).Labels() {
		if !strings.Contains(df, k+"=") {
			t.Errorf("Dockerfile lacks the label %s", k)
		}
	}
	for line := range strings.Lines(df) {
		if strings.HasPrefix(line, "COPY") && strings.Contains(line, "UserSync_run.sh") {
			t.Errorf("the image should not hold UserSync_run.sh (it needs a shell): %s", line)
		}
	}
}

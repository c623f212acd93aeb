// Package packaging tests what make dist packages, without building it
// (GoReleaser takes minutes to build from a cold cache; make dist runs it):
// the systemd units pass systemd-analyze verify and stay hardened, the
// package scripts parse, and .goreleaser.yaml stamps the version as the
// Makefile does and ships files that exist.
package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const root = "../.."

// need returns the path of a program the test needs; without it the test
// skips, or fails when CI is set.
func need(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: %s is not installed", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// units copies the systemd units into a directory with ExecStart pointing
// at an executable stub (verify checks that the program exists).
func units(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	stub := filepath.Join(dir, "indexsync")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "deploy/systemd/*.service"))
	timers, _ := filepath.Glob(filepath.Join(root, "deploy/systemd/*.timer"))
	for _, f := range append(files, timers...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data = []byte(strings.ReplaceAll(string(data), "/usr/bin/indexsync", stub))
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSystemdUnitsVerify(t *testing.T) {
	sa := need(t, "systemd-analyze")
	dir := units(t)
	names := []string{"indexsync.service", "indexsync-verify.service", "indexsync-verify.timer"}
	args := []string{"verify", "--man=no"}
	for _, n := range names {
		args = append(args, filepath.Join(dir, n))
	}
	out, err := exec.Command(sa, args...).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestSystemdUnitsHardened: systemd's own exposure score of each service
// stays at 2.0 or below (0 is fully locked down, 10 is a unit with no
// sandboxing); the units run as their own user with the hardening options
// the README promises.
func TestSystemdUnitsHardened(t *testing.T) {
	sa := need(t, "systemd-analyze")
	dir := units(t)
	for _, n := range []string{"indexsync.service", "indexsync-verify.service"} {
		out, err := exec.Command(sa, "security", "--offline=yes", "--threshold=20", filepath.Join(dir, n)).CombinedOutput()
		score := regexp.MustCompile(`Overall exposure level for \S+: (.*)`).FindSubmatch(out)
		if err != nil || score == nil {
			t.Errorf("%s: systemd-analyze security: %v\n%s", n, err, out)
			continue
		}
		t.Logf("%s: exposure %s", n, score[1])
		data, err := os.ReadFile(filepath.Join(root, "deploy/systemd", n))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"User=indexsync", "EnvironmentFile=/etc/indexsync/indexsync.env", "NoNewPrivileges=yes",
			"ProtectSystem=strict", "ReadWritePaths=/var/lib/indexsync/", "PrivateTmp=yes", "CapabilityBoundingSet=\n",
		} {
			if !strings.Contains(string(data), want) {
				t.Errorf("%s lacks %q", n, strings.TrimSpace(want))
			}
		}
	}
}

func TestPackageScriptsParse(t *testing.T) {
	sh := need(t, "sh")
	scripts, _ := filepath.Glob(filepath.Join(root, "deploy/packaging/*.sh"))
	if len(scripts) != 4 {
		t.Fatalf("package scripts %q, want 4", scripts)
	}
	for _, s := range scripts {
		if out, err := exec.Command(sh, "-n", s).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", s, err, out)
		}
	}
}

type goreleaser struct {
	Builds []struct {
		Main         string   `yaml:"main"`
		Env          []string `yaml:"env"`
		Flags        []string `yaml:"flags"`
		Ldflags      []string `yaml:"ldflags"`
		ModTimestamp string   `yaml:"mod_timestamp"`
	} `yaml:"builds"`
	Archives []struct {
		Files []struct {
			Src string `yaml:"src"`
		} `yaml:"files"`
	} `yaml:"archives"`
	Nfpms []struct {
		Formats  []string `yaml:"formats"`
		Contents []struct {
			Src  string `yaml:"src"`
			Dst  string `yaml:"dst"`
			Type string `yaml:"type"`
		} `yaml:"contents"`
		Scripts map[string]string `yaml:"scripts"`
	} `yaml:"nfpms"`
	Release struct {
		Disable bool `yaml:"disable"`
	} `yaml:"release"`
}

// TestGoReleaserConfig: the release build stamps the same variables as the
// Makefile, builds reproducibly, publishes nothing, and packages files that
// exist: the binary, UserSync_run.sh, the units, the env file as a config.
func TestGoReleaserConfig(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var g goreleaser
	if err := yaml.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	stamp := regexp.MustCompile(`-X (\S+)=`)
	var want []string
	for _, m := range stamp.FindAllStringSubmatch(string(makefile), -1) {
		want = append(want, m[1])
	}
	slices.Sort(want)
	if len(g.Builds) != 1 {
		t.Fatalf("%d builds, want 1", len(g.Builds))
	}
	b := g.Builds[0]
	var got []string
	for _, m := range stamp.FindAllStringSubmatch(strings.Join(b.Ldflags, " "), -1) {
		got = append(got, m[1])
	}
	slices.Sort(got)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("GoReleaser stamps %q, the Makefile %q", got, want)
	}
	if b.Main != "./cmd/indexsync" || !slices.Contains(b.Flags, "-trimpath") || !slices.Contains(b.Env, "CGO_ENABLED=0") || b.ModTimestamp == "" {
		t.Errorf("build %+v: want ./cmd/indexsync, -trimpath, CGO_ENABLED=0 and mod_timestamp", b)
	}
	if !g.Release.Disable {
		t.Errorf("release is not disabled: make dist must publish nothing")
	}
	var archived []string
	for _, a := range g.Archives {
		for _, f := range a.Files {
			archived = append(archived, f.Src)
			if matches, _ := filepath.Glob(filepath.Join(root, f.Src)); len(matches) == 0 && !strings.Contains(f.Src, "**") {
				t.Errorf("archive file %s matches nothing", f.Src)
			}
		}
	}
	for _, want := range []string{"UserSync_run.sh", "README.md", "LICENSE", "THIRD_PARTY_LICENSES", "deploy/systemd/*", "deploy/helm/**/*"} {
		if !slices.Contains(archived, want) {
			t.Errorf("the archives lack %s", want)
		}
	}
	if len(g.Nfpms) != 1 || !slices.Equal(g.Nfpms[0].Formats, []string{"deb", "rpm"}) {
		t.Fatalf("nfpms %+v, want one for deb and rpm", g.Nfpms)
	}
	n := g.Nfpms[0]
	dsts := map[string]string{}
	for _, c := range n.Contents {
		dsts[c.Dst] = c.Type
		if c.Src != "" {
			if _, err := os.Stat(filepath.Join(root, c.Src)); err != nil {
				t.Errorf("package file %s: %v", c.Src, err)
			}
		}
	}
	for _, want := range []string{
		"/usr/bin/UserSync_run.sh",
		"/usr/lib/systemd/system/indexsync.service",
		"/usr/lib/systemd/system/indexsync-verify.service",
		"/usr/lib/systemd/system/indexsync-verify.timer",
	} {
		if _, ok := dsts[want]; !ok {
			t.Errorf("the packages lack %s", want)
		}
	}
	if dsts["/etc/indexsync/indexsync.env"] != "config|noreplace" {
		t.Errorf("/etc/indexsync/indexsync.env is %q, want config|noreplace (an upgrade must keep the operator's secrets)", dsts["/etc/indexsync/indexsync.env"])
	}
	for _, s := range []string{"preinstall", "postinstall", "preremove", "postremove"} {
		if _, err := os.Stat(filepath.Join(root, n.Scripts[s])); err != nil {
			t.Errorf("package script %s: %v", s, err)
		}
	}
}

// Command ociimage builds indexsync's container image without a container
// daemon or registry access: from static indexsync binaries it assembles, from
// scratch, the image the Dockerfile builds on distroless (the binary, CA
// certificates, users root and nonroot 65532, a /state owned by 65532, run as
// 65532) and writes it, one image per platform under an OCI image index, as an
// OCI image-layout tar archive. `make image` runs it:
//
//	ociimage -out dist/indexsync_1.2.3_oci.tar -version v1.2.3 -commit 0a1b2c3 \
//	  -created 2026-11-26T01:47:08Z -license LICENSE -notices THIRD_PARTY_LICENSES \
//	  -binary linux/amd64=dist/image/linux_amd64/indexsync -binary linux/arm64=…
//
// The same inputs give the same bytes (fixed times, owners and order).
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

type binaryFlag map[string]string

func (b binaryFlag) String() string { return fmt.Sprint(map[string]string(b)) }

func (b binaryFlag) Set(v string) error {
	platform, file, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("want os/arch=path, got %q", v)
	}
	b[platform] = file
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("ociimage", flag.ContinueOnError)
	c := Config{Binaries: binaryFlag{}}
	out := fs.String("out", "", "the OCI archive to write")
	created := fs.String("created", "", "time of the files and the config, RFC 3339 (the commit's time)")
	fs.Var(binaryFlag(c.Binaries), "binary", "os/arch=path of a static indexsync binary (repeat per platform)")
	fs.StringVar(&c.License, "license", "LICENSE", "the licence file to include")
	fs.StringVar(&c.Notices, "notices", "THIRD_PARTY_LICENSES", "the third-party licences file to include")
	fs.StringVar(&c.Version, "version", "", "the version, also the image's tag in the archive")
	fs.StringVar(&c.Commit, "commit", "", "the commit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || c.Version == "" || *created == "" {
		return fmt.Errorf("-out, -version and -created are required")
	}
	t, err := time.Parse(time.RFC3339, *created)
	if err != nil {
		return fmt.Errorf("-created: %w", err)
	}
	c.Created = t
	idx, err := Build(c)
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := WriteArchive(w, idx, c.Version, c.Created); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return report(idx, *out)
}

// report prints the index digest and each platform's digest and size (the
// compressed layers and config: what a pull downloads).
func report(idx v1.ImageIndex, out string) error {
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Printf("%s (%d bytes): index %s\n", out, st.Size(), d)
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			return err
		}
		size, err := pullSize(img)
		if err != nil {
			return err
		}
		fmt.Printf("  %s/%s %s, %.1f MiB to pull\n", m.Platform.OS, m.Platform.Architecture, m.Digest, float64(size)/(1<<20))
	}
	return nil
}

// pullSize is the size of the image's config and compressed layers.
func pullSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

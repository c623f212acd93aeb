package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The image's layout. The Dockerfile builds the same on top of
// gcr.io/distroless/static-debian12:nonroot; image_test.go checks that the
// two agree.
const (
	BinaryPath  = "/usr/local/bin/indexsync"
	LicensePath = "/usr/share/doc/indexsync/LICENSE"
	NoticesPath = "/usr/share/doc/indexsync/THIRD_PARTY_LICENSES"
	CAFile      = "/etc/ssl/certs/ca-certificates.crt"
	StateDir    = "/state"
	// UID and GID of the user the image runs as: distroless's "nonroot".
	UID  = 65532
	User = "65532:65532"
	Port = "9000/tcp"
)

// Config is what an image is built from.
type Config struct {
	// Binaries maps a platform ("linux/amd64") to a static indexsync binary
	// built for it (CGO_ENABLED=0).
	Binaries map[string]string
	License  string // path of the LICENSE file
	Notices  string // path of THIRD_PARTY_LICENSES
	Version  string // the tag, e.g. v1.2.3
	Commit   string
	// Created is the time every file, the config and the labels carry: the
	// commit's time, so one commit gives one image digest.
	Created time.Time
}

// Labels are the image's org.opencontainers.image.* labels, also set as the
// manifests' annotations.
func (c Config) Labels() map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "indexsync",
		"org.opencontainers.image.description": "Keeps a Sunbird search index (Elasticsearch/OpenSearch) in step with Cassandra",
		"org.opencontainers.image.version":     c.Version,
		"org.opencontainers.image.revision":    c.Commit,
		"org.opencontainers.image.created":     c.Created.UTC().Format(time.RFC3339),
		"org.opencontainers.image.licenses":    "Apache-2.0",
	}
}

// Build returns the image index: one image per platform, each of two
// layers: the base (users, CA certificates, /state, /tmp) and the
// application (the binary and its licence).
func Build(c Config) (v1.ImageIndex, error) {
	if len(c.Binaries) == 0 {
		return nil, fmt.Errorf("no binary given")
	}
	base, err := baseLayer(c.Created)
	if err != nil {
		return nil, err
	}
	license, err := os.ReadFile(c.License)
	if err != nil {
		return nil, err
	}
	notices, err := os.ReadFile(c.Notices)
	if err != nil {
		return nil, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	platforms := make([]string, 0, len(c.Binaries))
	for p := range c.Binaries {
		platforms = append(platforms, p)
	}
	slices.Sort(platforms)
	for _, p := range platforms {
		osName, arch, ok := strings.Cut(p, "/")
		if !ok || osName != "linux" {
			return nil, fmt.Errorf("platform %q: want linux/<arch>", p)
		}
		bin, err := os.ReadFile(c.Binaries[p])
		if err != nil {
			return nil, err
		}
		app, err := appLayer(c.Created, bin, license, notices)
		if err != nil {
			return nil, err
		}
		img, err := image(c, arch, base, app)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: osName, Architecture: arch}},
		})
	}
	return mutate.Annotations(idx, c.Labels()).(v1.ImageIndex), nil
}

func image(c Config, arch string, base, app v1.Layer) (v1.Image, error) {
	created := v1.Time{Time: c.Created.UTC()}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err := mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: arch,
		OS:           "linux",
		Created:      created,
		Config: v1.Config{
			User:       User,
			Entrypoint: []string{BinaryPath},
			Env: []string{
				"PATH=/usr/local/bin:/usr/bin:/bin",
				"SSL_CERT_FILE=" + CAFile,
			},
			WorkingDir:   StateDir,
			ExposedPorts: map[string]struct{}{Port: {}},
			Labels:       c.Labels(),
		},
	})
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "tools/ociimage: users 0 and 65532, CA certificates, /state, /tmp"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: created, CreatedBy: "tools/ociimage: " + BinaryPath}},
	)
	if err != nil {
		return nil, err
	}
	return mutate.Annotations(img, c.Labels()).(v1.Image), nil
}

// entry is one file or directory of a layer.
type entry struct {
	name     string // absolute path in the image
	mode     int64  // permission bits, plus 01000 for the sticky bit
	uid      int
	dir      bool
	contents []byte
}

func baseLayer(created time.Time) (v1.Layer, error) {
	certs, err := caBundle(created)
	if err != nil {
		return nil, err
	}
	return layer(created, []entry{
		{name: "/etc", mode: 0o755, dir: true},
		{name: "/etc/group", mode: 0o644, contents: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "/etc/passwd", mode: 0o644, contents: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "/etc/ssl", mode: 0o755, dir: true},
		{name: "/etc/ssl/certs", mode: 0o755, dir: true},
		{name: CAFile, mode: 0o644, contents: certs},
		{name: "/home", mode: 0o755, dir: true},
		{name: "/home/nonroot", mode: 0o700, uid: UID, dir: true},
		{name: "/root", mode: 0o700, dir: true},
		{name: StateDir, mode: 0o755, uid: UID, dir: true},
		{name: "/tmp", mode: 0o1777, dir: true},
		{name: "/usr", mode: 0o755, dir: true},
		{name: "/usr/local", mode: 0o755, dir: true},
		{name: "/usr/local/bin", mode: 0o755, dir: true},
		{name: "/usr/share", mode: 0o755, dir: true},
		{name: "/usr/share/doc", mode: 0o755, dir: true},
		{name: "/usr/share/doc/indexsync", mode: 0o755, dir: true},
	})
}

func appLayer(created time.Time, binary, license, notices []byte) (v1.Layer, error) {
	return layer(created, []entry{
		{name: BinaryPath, mode: 0o755, contents: binary},
		{name: LicensePath, mode: 0o644, contents: license},
		{name: NoticesPath, mode: 0o644, contents: notices},
	})
}

// layer writes the entries as a gzip-compressed tar layer with fixed times
// and numeric owners, so the same entries give the same digest.
func layer(created time.Time, entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name:    strings.TrimPrefix(e.name, "/"),
			Mode:    e.mode,
			Uid:     e.uid,
			Gid:     e.uid,
			ModTime: created.UTC().Truncate(time.Second),
			Format:  tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.contents))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.contents); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression))
}

// caBundle returns the CA certificates as PEM, from Go's copy of the Mozilla
// root store (golang.org/x/crypto/x509roots/fallback, pinned in tools/go.mod),
// not from the build machine's /etc/ssl: the image is then the same on every
// machine, and the roots change only when that module's version does (a
// reviewed go.mod change). A root that Mozilla distrusts for certificates
// issued after some date is left out once that date has passed at created,
// which is what Debian's ca-certificates does; PEM cannot carry the date.
func caBundle(created time.Time) ([]byte, error) {
	var buf bytes.Buffer
	leaf := []*x509.Certificate{{NotBefore: created}}
	n := 0
	for root := range bundle.Roots() {
		if root.Constraint != nil && root.Constraint(leaf) != nil {
			continue
		}
		cert, err := x509.ParseCertificate(root.Certificate)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&buf, "# %s\n", cert.Subject)
		if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, err
		}
		n++
	}
	if n < 100 {
		return nil, fmt.Errorf("only %d CA certificates in the bundle", n)
	}
	return buf.Bytes(), nil
}

// WriteArchive writes the index as an OCI image layout in a tar archive
// (what `podman save --format oci-archive` writes and `skopeo copy
// oci-archive:…` and `podman load` read): index.json names one entry, the
// multi-platform index, tagged ref with org.opencontainers.image.ref.name.
// Files come in a fixed order with fixed times.
func WriteArchive(w io.Writer, idx v1.ImageIndex, ref string, created time.Time) error {
	blobs := map[string][]byte{}
	if err := collect(idx, blobs); err != nil {
		return err
	}
	desc, err := describe(idx)
	if err != nil {
		return err
	}
	desc.Annotations = map[string]string{"org.opencontainers.image.ref.name": ref}
	top, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests:     []v1.Descriptor{desc},
	})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	mtime := created.UTC().Truncate(time.Second)
	file := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, ModTime: mtime, Typeflag: tar.TypeDir, Format: tar.FormatPAX})
	}
	if err := file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := file("index.json", top); err != nil {
		return err
	}
	if err := dir("blobs/"); err != nil {
		return err
	}
	if err := dir("blobs/sha256/"); err != nil {
		return err
	}
	names := make([]string, 0, len(blobs))
	for name := range blobs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := file(path.Join("blobs/sha256", name), blobs[name]); err != nil {
			return err
		}
	}
	return tw.Close()
}

func describe(idx v1.ImageIndex) (v1.Descriptor, error) {
	raw, err := idx.RawManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	digest, err := idx.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: types.OCIImageIndex, Digest: digest, Size: int64(len(raw))}, nil
}

// collect gathers every blob of the index by hex digest: manifests,
// configs and compressed layers.
func collect(idx v1.ImageIndex, blobs map[string][]byte) error {
	raw, err := idx.RawManifest()
	if err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	blobs[d.Hex] = raw
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, m := range im.Manifests {
		img, err := idx.Image(m.Digest)
		if err != nil {
			return err
		}
		raw, err := img.RawManifest()
		if err != nil {
			return err
		}
		blobs[m.Digest.Hex] = raw
		cfg, err := img.RawConfigFile()
		if err != nil {
			return err
		}
		name, err := img.ConfigName()
		if err != nil {
			return err
		}
		blobs[name.Hex] = cfg
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			ld, err := l.Digest()
			if err != nil {
				return err
			}
			rc, err := l.Compressed()
			if err != nil {
				return err
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return err
			}
			blobs[ld.Hex] = data
		}
	}
	return nil
}

// Package imagebuild makes the webhook and capture images without a container engine, with
// go-containerregistry: a base equivalent to distroless static (CA certificates, tzdata,
// /etc/passwd and /etc/group with nonroot 65532, /tmp), one layer with the binary, and a config
// whose entrypoint and user are the Specs below, the one place they are written down.
// The same inputs give the same bytes: fixed times, owners and modes, entries in sorted order.
package imagebuild

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec is what differs between the two images.
type Spec struct {
	// Name is the binary's name, its path in the image (/Name) and the tarball's base name.
	Name string
	// Entrypoint is the image's ENTRYPOINT; the kubelet runs it when a container has no command.
	Entrypoint []string
	// User is the image's USER (uid:gid).
	User string
}

var (
	// Webhook runs as distroless's nonroot, as the chart's runAsUser 65532 does.
	Webhook = Spec{Name: "webhook", Entrypoint: []string{"/webhook"}, User: "65532:65532"}
	// Capture runs as uid 0, as the injected securityContext sets (runAsUser 0, every capability
	// dropped but NET_ADMIN and NET_RAW, no privilege escalation; see the README for why).
	Capture = Spec{Name: "capture", Entrypoint: []string{"/capture"}, User: "0:0"}
)

// Specs lists the images by name.
var Specs = map[string]Spec{Webhook.Name: Webhook, Capture.Name: Capture}

// Host files the base takes from the build machine: Debian's ca-certificates and tzdata
// packages, as distroless static takes them from Debian's packages.
const (
	HostCACertificates = "/etc/ssl/certs/ca-certificates.crt"
	HostZoneinfo       = "/usr/share/zoneinfo"
)

// passwd and group list the users and groups distroless static has (root, nobody, nonroot
// 65532; tty, staff), written from its definition, not copied from its image.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"
)

// Options configure Build. The zero value builds from this machine's files at time 0.
type Options struct {
	// Binary is the static binary to ship, built as `make build` builds it. Required.
	Binary string
	// Created is the time of every file and of the image; zero means the Unix epoch. `make
	// images` passes SOURCE_DATE_EPOCH when it is set.
	Created time.Time
	// CACertificates and Zoneinfo default to HostCACertificates and HostZoneinfo.
	CACertificates, Zoneinfo string
}

// Build returns the image for spec.
func Build(spec Spec, opts Options) (v1.Image, error) {
	if opts.Binary == "" {
		return nil, errors.New("no binary given")
	}
	if opts.Created.IsZero() {
		opts.Created = time.Unix(0, 0)
	}
	opts.Created = opts.Created.UTC()
	if opts.CACertificates == "" {
		opts.CACertificates = HostCACertificates
	}
	if opts.Zoneinfo == "" {
		opts.Zoneinfo = HostZoneinfo
	}
	base, err := baseLayer(opts)
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("read the %s binary: %w", spec.Name, err)
	}
	app, err := layer(opts.Created, []entry{{name: spec.Name, mode: 0o755, data: bin}})
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1),
		mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: opts.Created}, CreatedBy: "wire-audit imagebuild: base equivalent to distroless static", Comment: "ca-certificates, tzdata, passwd, group, /tmp"}},
		mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: opts.Created}, CreatedBy: "wire-audit imagebuild: /" + spec.Name}},
	)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.Created = v1.Time{Time: opts.Created}
	cfg.OS = "linux"
	cfg.Architecture = runtime.GOARCH
	cfg.Config = v1.Config{
		Entrypoint: spec.Entrypoint,
		User:       spec.User,
		WorkingDir: "/",
		Env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
		},
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set the config: %w", err)
	}
	return img, nil
}

// entry is one file, directory or symlink of a layer, named without a leading slash.
type entry struct {
	name     string
	mode     int64
	uid, gid int
	dir      bool
	link     string
	data     []byte
}

func baseLayer(opts Options) (v1.Layer, error) {
	certs, err := os.ReadFile(opts.CACertificates)
	if err != nil {
		return nil, fmt.Errorf("CA certificates (Debian package ca-certificates): %w", err)
	}
	es := []entry{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/ssl", mode: 0o755, dir: true},
		{name: "etc/ssl/certs", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs},
		{name: "home", mode: 0o755, dir: true},
		{name: "home/nonroot", mode: 0o700, dir: true, uid: 65532, gid: 65532},
		{name: "root", mode: 0o700, dir: true},
		{name: "tmp", mode: 0o1777, dir: true},
		{name: "usr", mode: 0o755, dir: true},
		{name: "usr/share", mode: 0o755, dir: true},
	}
	zi, err := zoneinfo(opts.Zoneinfo)
	if err != nil {
		return nil, fmt.Errorf("tzdata (Debian package tzdata): %w", err)
	}
	return layer(opts.Created, append(es, zi...))
}

// zoneinfo reads the tree at dir as usr/share/zoneinfo, symlinks kept as they are (tzdata
// links zones to each other, e.g. posix/ to ..).
func zoneinfo(dir string) ([]entry, error) {
	var es []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := path.Join("usr/share/zoneinfo", filepath.ToSlash(rel))
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			es = append(es, entry{name: name, mode: 0o777, link: target})
		case d.IsDir():
			es = append(es, entry{name: name, mode: 0o755, dir: true})
		case d.Type().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			es = append(es, entry{name: name, mode: 0o644, data: b})
		default:
			return fmt.Errorf("%s: not a file, directory or symlink", p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(es) < 2 {
		return nil, fmt.Errorf("%s is empty", dir)
	}
	return es, nil
}

// layer writes es as one tar, sorted by name, with time t, the given owners and modes, and
// nothing from the build machine's own metadata.
func layer(t time.Time, es []entry) (v1.Layer, error) {
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: t,
			Typeflag: tar.TypeReg, Size: int64(len(e.data)),
		}
		switch {
		case e.dir:
			h.Typeflag, h.Name, h.Size = tar.TypeDir, e.name+"/", 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// Package images checks `make images` and `make image-push` as a user runs them: the image
// tarballs are built twice from the same sources and must be byte for byte the same, hold the
// binaries `make build` made, on a base equivalent to distroless static, load as docker-save
// archives, and push to a real registry (go-containerregistry's, on loopback) with the same digest.
package images

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/audit-io/wire-audit/internal/imagebuild"
)

const repo = "../.."

// Names other than the Makefile's defaults, to check that WEBHOOK_IMG and CAPTURE_IMG are used.
var tags = map[string]string{
	"webhook": "example.test/audit/wire-audit-webhook:t1",
	"capture": "example.test/audit/wire-audit-capture:t1",
}

func TestMakeImages(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatalf("gcc is needed to build the capture binary as make capture does: %v", err)
	}
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	regName := strings.TrimPrefix(reg.URL, "http://") + "/wire-audit"

	// Two builds in different directories: nothing of the build's own path may reach the image.
	first, second := t.TempDir(), t.TempDir()
	makeRun(t, "images", "LOCALBIN="+first)
	pushOut := makeRun(t, "image-push", "LOCALBIN="+second, "REGISTRY="+regName)

	for _, spec := range []imagebuild.Spec{imagebuild.Webhook, imagebuild.Capture} {
		t.Run(spec.Name, func(t *testing.T) {
			a := filepath.Join(first, "images", spec.Name+".tar")
			b := filepath.Join(second, "images", spec.Name+".tar")
			if fileSum(t, a) != fileSum(t, b) {
				t.Errorf("two builds of the same sources differ: %s and %s", a, b)
			}
			// ctr images import and kind load image-archive read the OCI layout.
			img, ref, err := imagebuild.Load(a)
			if err != nil {
				t.Fatalf("read %s as an OCI layout: %v", a, err)
			}
			if ref.String() != tags[spec.Name] {
				t.Errorf("%s: index.json names %s, want %s", a, ref, tags[spec.Name])
			}
			digest, err := img.Digest()
			if err != nil {
				t.Fatal(err)
			}
			// docker load reads manifest.json; go-containerregistry's reader of that format
			// must find the same config and layers.
			dimg, err := tarball.ImageFromPath(a, nil)
			if err != nil {
				t.Fatalf("read %s as a docker-save archive: %v", a, err)
			}
			sameContents(t, img, dimg)
			fi, err := os.Stat(a)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s, tarball %.1f MiB", tags[spec.Name], digest, float64(fi.Size())/(1<<20))

			checkDockerArchive(t, a, tags[spec.Name])
			checkConfig(t, img, spec)
			files := layerFiles(t, img)
			checkBase(t, files)
			bin, err := os.ReadFile(filepath.Join(first, spec.Name))
			if err != nil {
				t.Fatal(err)
			}
			f := files[spec.Name]
			if f == nil || !bytes.Equal(f.data, bin) || f.mode != 0o755 {
				t.Errorf("/%s is not the binary make build made, mode 0755", spec.Name)
			} else {
				checkStatic(t, spec.Name, bin)
			}

			pushed, err := name.ParseReference(regName + "/" + strings.TrimPrefix(tags[spec.Name], "example.test/audit/"))
			if err != nil {
				t.Fatal(err)
			}
			desc, err := remote.Get(pushed)
			if err != nil {
				t.Fatalf("get %s from the registry after make image-push: %v", pushed, err)
			}
			if desc.Digest != digest {
				t.Errorf("pushed %s has digest %s, the tarball %s", pushed, desc.Digest, digest)
			}
			if !strings.Contains(pushOut, pushed.String()+"@"+digest.String()) {
				t.Errorf("make image-push did not report %s@%s:\n%s", pushed, digest, pushOut)
			}
		})
	}
}

// makeRun runs make in the repository with the test's image names and returns its output.
func makeRun(t *testing.T, args ...string) string {
	t.Helper()
	args = append(args, "WEBHOOK_IMG="+tags["webhook"], "CAPTURE_IMG="+tags["capture"])
	t.Logf("make %s", strings.Join(args, " "))
	cmd := exec.Command("make", args...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func fileSum(t *testing.T, file string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// sameContents fails unless a and b have the same config and layers.
func sameContents(t *testing.T, a, b v1.Image) {
	t.Helper()
	ca, err := a.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	la, err := a.Layers()
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if ca != cb || len(la) != len(lb) {
		t.Fatalf("OCI layout and manifest.json differ: config %s and %s, %d and %d layers", ca, cb, len(la), len(lb))
	}
	for i := range la {
		da, _ := la[i].DiffID()
		db, err := lb[i].DiffID()
		if err != nil || da != db {
			t.Errorf("layer %d: OCI layout %s, manifest.json %s (%v)", i, da, db, err)
		}
	}
}

// checkDockerArchive checks what docker load, ctr images import and kind load image-archive
// read: manifest.json with the tag and the config and layer files it names.
func checkDockerArchive(t *testing.T, file, tag string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries[h.Name] = b
	}
	var m []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(entries["manifest.json"], &m); err != nil {
		t.Fatalf("%s: manifest.json: %v", file, err)
	}
	if len(m) != 1 || !slices.Equal(m[0].RepoTags, []string{tag}) {
		t.Fatalf("%s: manifest.json %+v, want one image tagged %s", file, m, tag)
	}
	for _, p := range append([]string{m[0].Config}, m[0].Layers...) {
		if _, ok := entries[p]; !ok {
			t.Errorf("%s: manifest.json names %s, which the archive lacks", file, p)
		}
	}
	for _, p := range []string{"oci-layout", "index.json"} {
		if _, ok := entries[p]; !ok {
			t.Errorf("%s: no %s: not an OCI image layout", file, p)
		}
	}
	if len(m[0].Layers) != 2 {
		t.Errorf("%s: %d layers, want 2 (base, binary)", file, len(m[0].Layers))
	}
}

func checkConfig(t *testing.T, img v1.Image, spec imagebuild.Spec) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/" + spec.Name}) || cfg.Config.User != spec.User {
		t.Errorf("entrypoint %q user %q, want [/%s] and %q", cfg.Config.Entrypoint, cfg.Config.User, spec.Name, spec.User)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" || !cfg.Created.Equal(time.Unix(0, 0)) {
		t.Errorf("os %q arch %q created %v, want linux, this machine's, the epoch", cfg.OS, cfg.Architecture, cfg.Created)
	}
}

type file struct {
	mode     int64
	uid, gid int
	typ      byte
	data     []byte
}

// layerFiles reads every layer and checks that each entry is dated the epoch, owned by root
// (but /home/nonroot), in sorted order.
func layerFiles(t *testing.T, img v1.Image) map[string]*file {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*file{}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		prev := ""
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("layer %d: %v", i, err)
			}
			n := strings.TrimSuffix(h.Name, "/")
			if n <= prev {
				t.Errorf("layer %d: %s after %s: entries are not sorted", i, n, prev)
			}
			prev = n
			if !h.ModTime.Equal(time.Unix(0, 0)) {
				t.Errorf("layer %d: %s dated %v, want the epoch", i, n, h.ModTime)
			}
			if (h.Uid != 0 || h.Gid != 0) && n != "home/nonroot" {
				t.Errorf("layer %d: %s owned by %d:%d", i, n, h.Uid, h.Gid)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[n] = &file{mode: h.Mode, uid: h.Uid, gid: h.Gid, typ: h.Typeflag, data: b}
		}
		rc.Close()
	}
	return files
}

// checkBase checks what distroless static provides: users, CA certificates, tzdata and /tmp.
func checkBase(t *testing.T, files map[string]*file) {
	t.Helper()
	want := map[string]string{
		"etc/passwd": "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
		"etc/group":  "nonroot:x:65532:\n",
	}
	for n, line := range want {
		if f := files[n]; f == nil || !strings.Contains(string(f.data), line) || !strings.HasPrefix(string(f.data), "root:x:0:") {
			t.Errorf("/%s lacks root and %q", n, line)
		}
	}
	if f := files["tmp"]; f == nil || f.typ != tar.TypeDir || f.mode != 0o1777 {
		t.Errorf("/tmp is not a directory with mode 1777: %+v", f)
	}
	if f := files["home/nonroot"]; f == nil || f.typ != tar.TypeDir || f.uid != 65532 || f.gid != 65532 {
		t.Errorf("/home/nonroot is not a directory owned by 65532: %+v", f)
	}
	pool := x509.NewCertPool()
	if f := files["etc/ssl/certs/ca-certificates.crt"]; f == nil || !pool.AppendCertsFromPEM(f.data) || len(pool.Subjects()) < 50 { //nolint:staticcheck // counting, not verifying
		t.Errorf("/etc/ssl/certs/ca-certificates.crt holds no CA bundle")
	}
	f := files["usr/share/zoneinfo/Europe/Berlin"]
	if f == nil {
		t.Fatal("no /usr/share/zoneinfo/Europe/Berlin")
	}
	if _, err := time.LoadLocationFromTZData("Europe/Berlin", f.data); err != nil {
		t.Errorf("/usr/share/zoneinfo/Europe/Berlin: %v", err)
	}
}

// checkStatic fails unless bin is an ELF executable with no interpreter and no shared
// libraries, so that it runs on a base without libc.
func checkStatic(t *testing.T, name string, bin []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatalf("/%s is not an ELF binary: %v", name, err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("/%s has a dynamic loader (PT_INTERP): it would not start without libc", name)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("/%s needs shared libraries %v (%v)", name, libs, err)
	}
}

package imagebuild

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Write writes img to file as one tarball in both archive formats that `docker save` (Docker
// 25 and later) writes: an OCI image layout (oci-layout, index.json, blobs/sha256/...), which
// `ctr images import` and `kind load image-archive` read, keeping the manifest and so the
// digest; and manifest.json naming the same blobs, which `docker load` of any version reads.
// The image is named tag in both. Entries are in a fixed order, dated the epoch.
func Write(img v1.Image, tag, file string) error {
	t, err := name.NewTag(tag, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("image name %q: %w", tag, err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := writeArchive(f, img, t); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", file, err)
	}
	return f.Close()
}

func writeArchive(w io.Writer, img v1.Image, t name.Tag) error {
	tw := tar.NewWriter(w)
	add := func(path string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: path, Mode: 0o644, Size: int64(len(b)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	blob := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/", Mode: 0o755, ModTime: time.Unix(0, 0), Typeflag: tar.TypeDir}); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/", Mode: 0o755, ModTime: time.Unix(0, 0), Typeflag: tar.TypeDir}); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var layerPaths []string
	for _, l := range layers {
		d, b, err := compressed(l)
		if err != nil {
			return err
		}
		if err := add(blob(d), b); err != nil {
			return err
		}
		layerPaths = append(layerPaths, blob(d))
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := add(blob(cfgName), cfg); err != nil {
		return err
	}
	desc, err := partial.Descriptor(img)
	if err != nil {
		return err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	if err := add(blob(desc.Digest), raw); err != nil {
		return err
	}
	// go-containerregistry fills artifactType with the config's type; an image has none.
	desc.ArtifactType = ""
	desc.Annotations = map[string]string{
		// containerd names the imported image by this; Docker writes it the same way.
		"io.containerd.image.name":          containerdName(t),
		"org.opencontainers.image.ref.name": t.TagStr(),
	}
	index, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{*desc}})
	if err != nil {
		return err
	}
	if err := add("index.json", index); err != nil {
		return err
	}
	manifest, err := json.Marshal(tarball.Manifest{{Config: blob(cfgName), RepoTags: []string{t.String()}, Layers: layerPaths}})
	if err != nil {
		return err
	}
	if err := add("manifest.json", manifest); err != nil {
		return err
	}
	if err := add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	return tw.Close()
}

// containerdName is t fully qualified as containerd and the kubelet spell it: Docker Hub is
// docker.io, not go-containerregistry's index.docker.io.
func containerdName(t name.Tag) string {
	reg := t.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = "docker.io"
	}
	return reg + "/" + t.RepositoryStr() + ":" + t.TagStr()
}

// Destination is where Push puts the image tagged tag: registry, then the last path element
// of tag's repository and its tag, so ghcr.io/audit-io/wire-audit-webhook:v0.1.0 goes to
// REGISTRY/wire-audit-webhook:v0.1.0.
func Destination(registry, tag string) (name.Tag, error) {
	src, err := name.NewTag(tag, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image name %q: %w", tag, err)
	}
	if registry == "" {
		return name.Tag{}, fmt.Errorf("REGISTRY is empty: name the registry and path to push to, e.g. REGISTRY=registry.example/wire-audit")
	}
	if strings.Contains(registry, "://") || strings.HasSuffix(registry, "/") || strings.Contains(registry, "@") {
		return name.Tag{}, fmt.Errorf("REGISTRY %q: want host[:port][/path] with no scheme, no tag and no trailing slash, e.g. registry.example/wire-audit", registry)
	}
	repo := src.RepositoryStr()
	dst := registry + "/" + repo[strings.LastIndex(repo, "/")+1:] + ":" + src.TagStr()
	t, err := name.NewTag(dst, name.StrictValidation)
	if err != nil {
		// Strict validation also refuses a first element that is not a host (no dot, port or
		// localhost), which would otherwise mean Docker Hub.
		return name.Tag{}, fmt.Errorf("REGISTRY %q gives the image name %q: %w", registry, dst, err)
	}
	return t, nil
}

// Load reads the image in a tarball that Write wrote, through its OCI layout, so that its
// manifest, and so its digest, are those written; and returns the name it was written with.
func Load(file string) (v1.Image, name.Tag, error) {
	dir, err := os.MkdirTemp("", "imagebuild-")
	if err != nil {
		return nil, name.Tag{}, err
	}
	defer os.RemoveAll(dir)
	if err := untar(file, dir); err != nil {
		return nil, name.Tag{}, fmt.Errorf("read %s: %w", file, err)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("%s: not an OCI image layout: %w", file, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("%s: %w", file, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("%s: %w", file, err)
	}
	if len(im.Manifests) != 1 {
		return nil, name.Tag{}, fmt.Errorf("%s: index.json lists %d images, want one as make images writes", file, len(im.Manifests))
	}
	ref := im.Manifests[0].Annotations["io.containerd.image.name"]
	t, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("%s: image name %q: %w", file, ref, err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("%s: %w", file, err)
	}
	// The layout's files are about to go: keep the image in memory.
	img, err = inMemory(img)
	if err != nil {
		return nil, name.Tag{}, fmt.Errorf("%s: %w", file, err)
	}
	return img, t, nil
}

// Push pushes the image in the tarball file (written by Write) to registry, as Destination
// names it, with the credentials of the Docker config (authn.DefaultKeychain). It returns the
// reference pushed and the image's digest, which is the tarball's.
func Push(ctx context.Context, file, registry string) (name.Tag, v1.Hash, error) {
	img, src, err := Load(file)
	if err != nil {
		return name.Tag{}, v1.Hash{}, err
	}
	dst, err := Destination(registry, src.String())
	if err != nil {
		return name.Tag{}, v1.Hash{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return name.Tag{}, v1.Hash{}, err
	}
	if err := remote.Write(dst, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return name.Tag{}, v1.Hash{}, fmt.Errorf("push %s to %s: %w", file, dst, err)
	}
	return dst, d, nil
}

// untar extracts the regular files and directories of file into dir; other entries and paths
// that leave dir are errors.
func untar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if !filepath.IsLocal(h.Name) {
			return fmt.Errorf("entry %q leaves the archive", h.Name)
		}
		p := filepath.Join(dir, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.Create(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("entry %q: type %q, want a file or directory", h.Name, h.Typeflag)
		}
	}
}

// inMemory copies img's manifest, config and compressed layers into memory, keeping the
// manifest as it is.
func inMemory(img v1.Image) (v1.Image, error) {
	m, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	c, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	blobs := map[v1.Hash][]byte{}
	for _, l := range layers {
		d, b, err := compressed(l)
		if err != nil {
			return nil, err
		}
		blobs[d] = b
	}
	return partial.CompressedToImage(memImage{manifest: m, config: c, mediaType: mt, blobs: blobs})
}

// compressed returns a layer's digest and its compressed bytes.
func compressed(l v1.Layer) (v1.Hash, []byte, error) {
	d, err := l.Digest()
	if err != nil {
		return v1.Hash{}, nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return v1.Hash{}, nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return d, b, err
}

type memImage struct {
	manifest, config []byte
	mediaType        types.MediaType
	blobs            map[v1.Hash][]byte
}

func (m memImage) RawManifest() ([]byte, error)        { return m.manifest, nil }
func (m memImage) RawConfigFile() ([]byte, error)      { return m.config, nil }
func (m memImage) MediaType() (types.MediaType, error) { return m.mediaType, nil }
func (m memImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	b, ok := m.blobs[h]
	if !ok {
		return nil, fmt.Errorf("no layer %s", h)
	}
	return memLayer{b: b, digest: h}, nil
}

// memLayer is a compressed layer blob; partial.CompressedToImage derives the rest.
type memLayer struct {
	b      []byte
	digest v1.Hash
}

func (l memLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l memLayer) Size() (int64, error)                { return int64(len(l.b)), nil }
func (l memLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }
func (l memLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.b)), nil
}

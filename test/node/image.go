package node

import (
	"context"
	"path/filepath"

	"github.com/audit-io/wire-audit/internal/imagebuild"
	"github.com/audit-io/wire-audit/test/gobuild"
)

// BinaryImage writes an image tarball tagged ref that runs the static binary bin as
// /<base name>, as user nonroot, built the way `make images` builds ours (internal/imagebuild:
// the distroless-equivalent base, both tarball formats). The node uses it for the pause image
// and tests for small static programs.
func BinaryImage(bin, ref, out string) error {
	base := filepath.Base(bin)
	img, err := imagebuild.Build(imagebuild.Spec{Name: base, Entrypoint: []string{"/" + base}, User: "65532:65532"},
		imagebuild.Options{Binary: bin})
	if err != nil {
		return err
	}
	return imagebuild.Write(img, ref, out)
}

// pauseImage builds the pause program and its image into dir, and returns the tarball.
func pauseImage(ctx context.Context, repoRoot, dir string) (string, error) {
	bin := filepath.Join(dir, "pause")
	if err := gobuild.Go(ctx, repoRoot, "./test/node/pause", bin, []string{"CGO_ENABLED=0"}, "-trimpath", "-ldflags=-s -w"); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "pause.tar")
	return out, BinaryImage(bin, PauseImage, out)
}

package realnet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// template is a data directory that is initialised once and copied for each server, because
// initdb and mariadb-install-db cost a second of CPU each, and over ten when parallel tests
// start servers on two busy cores. It lives while any test that copied it is running.
type template struct {
	mu    sync.Mutex
	dir   string // holds "data"; empty when there is none
	users int
}

// copyTo copies the template's data directory to dst (which must not exist), first creating
// it with create(dataDir) if no running test holds it. cp -a keeps owners and modes, which
// postgres checks.
func (tp *template) copyTo(t TB, dst string, create func(data string) error) error {
	t.Helper()
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.dir == "" {
		dir, err := os.MkdirTemp("", "rn-tmpl-")
		if err != nil {
			return err
		}
		// Traversable, for servers that run as their own user.
		if err := os.Chmod(dir, 0o755); err != nil {
			_ = os.RemoveAll(dir)
			return err
		}
		if err := create(filepath.Join(dir, "data")); err != nil {
			_ = os.RemoveAll(dir)
			return err
		}
		tp.dir = dir
	}
	tp.users++
	t.Cleanup(tp.release)
	if out, err := exec.Command("cp", "-a", filepath.Join(tp.dir, "data"), dst).CombinedOutput(); err != nil {
		return fmt.Errorf("copy data directory: %w: %s", err, out)
	}
	return nil
}

func (tp *template) release() {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.users--
	if tp.users == 0 {
		_ = os.RemoveAll(tp.dir)
		tp.dir = ""
	}
}

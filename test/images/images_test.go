// Package images checks the two Dockerfiles without a Docker engine: the build command each
// one runs is run here, on a copy of the build context that .dockerignore leaves, and the binary
// it makes must be static; the final stage must be distroless static with that binary alone as
// its entrypoint.
package images

import (
	"bufio"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const repo = "../.."

// distrolessStatic is the size of gcr.io/distroless/static-debian12, uncompressed, as
// published (CA certificates, tzdata, /etc/passwd); an image is that plus its binary.
const distrolessStaticMiB = 2.0

func TestDockerfiles(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatalf("gcc is needed to build the capture binary as its Dockerfile does: %v", err)
	}
	ctxDir := buildContext(t)
	for _, bin := range []string{"webhook", "capture"} {
		t.Run(bin, func(t *testing.T) {
			df := parseDockerfile(t, filepath.Join(repo, "cmd", bin, "Dockerfile"))
			final := df.stages[len(df.stages)-1]
			if !strings.HasPrefix(final.from, "gcr.io/distroless/static") {
				t.Errorf("final stage is FROM %s, want gcr.io/distroless/static*", final.from)
			}
			want := []string{"COPY --from=build /out/" + bin + " /" + bin}
			if strings.Join(final.copies, "\n") != strings.Join(want, "\n") {
				t.Errorf("final stage copies %q, want only %q", final.copies, want)
			}
			if final.entrypoint != `["/`+bin+`"]` {
				t.Errorf("ENTRYPOINT %s, want [\"/%s\"]", final.entrypoint, bin)
			}
			out := t.TempDir()
			build := df.goBuild(t, out)
			t.Logf("running the Dockerfile's build: %s", build)
			cmd := exec.Command("sh", "-c", build)
			cmd.Dir = ctxDir
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("the Dockerfile's go build failed on the .dockerignore'd context: %v\n%s", err, b)
			}
			file := filepath.Join(out, bin)
			checkStatic(t, file)
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			mib := float64(fi.Size()) / (1 << 20)
			t.Logf("%s: static binary %.1f MiB; expected image about %.1f MiB uncompressed (distroless static %.0f MiB + binary)", bin, mib, mib+distrolessStaticMiB, distrolessStaticMiB)
		})
	}
}

// checkStatic fails unless file is an ELF executable with no interpreter and no shared
// libraries, so that it runs on distroless static, which has no libc.
func checkStatic(t *testing.T, file string) {
	t.Helper()
	f, err := elf.Open(file)
	if err != nil {
		t.Fatalf("%s is not an ELF binary: %v", file, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a dynamic loader (PT_INTERP): it would not start on distroless static", file)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", file, libs)
	}
}

type stage struct {
	from       string
	copies     []string
	entrypoint string
}

type dockerfile struct {
	stages []stage
	args   map[string]string
	runs   []string
}

// parseDockerfile reads the instructions this project's Dockerfiles use, with line
// continuations joined and comments dropped.
func parseDockerfile(t *testing.T, file string) dockerfile {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	df := dockerfile{args: map[string]string{}}
	var line string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") || (l == "" && line == "") {
			continue
		}
		if cont, ok := strings.CutSuffix(l, `\`); ok {
			line += cont + " "
			continue
		}
		line += l
		instr, rest, _ := strings.Cut(line, " ")
		line = ""
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			fields := strings.Fields(rest)
			for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
				fields = fields[1:]
			}
			df.stages = append(df.stages, stage{from: fields[0]})
		case "COPY":
			if s := &df.stages[len(df.stages)-1]; strings.Contains(rest, "--from=") {
				s.copies = append(s.copies, "COPY "+rest)
			}
		case "ENTRYPOINT":
			df.stages[len(df.stages)-1].entrypoint = rest
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			df.args[k] = v
		case "RUN":
			df.runs = append(df.runs, rest)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(df.stages) < 2 {
		t.Fatalf("%s: want a multi-stage build, got %d stages", file, len(df.stages))
	}
	return df
}

// goBuild is the Dockerfile's go build command for this machine: BuildKit's --mount flags
// dropped, the ARGs set to this platform, and /out/ moved to out.
func (df dockerfile) goBuild(t *testing.T, out string) string {
	t.Helper()
	for _, r := range df.runs {
		if !strings.Contains(r, "go build") {
			continue
		}
		fields := strings.Fields(r)
		for len(fields) > 0 && strings.HasPrefix(fields[0], "--mount=") {
			fields = fields[1:]
		}
		cmd := strings.Join(fields, " ")
		for k := range df.args {
			v := map[string]string{"TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH}[k]
			cmd = strings.ReplaceAll(cmd, "$"+k, v)
		}
		return strings.ReplaceAll(cmd, "/out/", out+"/")
	}
	t.Fatal("no RUN ... go build in the Dockerfile")
	return ""
}

// buildContext copies the tracked files that .dockerignore lets into the build context, so a
// package the build needs but the ignore file drops fails the build here as it would in Docker.
func buildContext(t *testing.T) string {
	t.Helper()
	ignore, err := os.ReadFile(filepath.Join(repo, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for l := range strings.SplitSeq(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, strings.TrimSuffix(l, "/"))
		}
	}
	files, err := exec.Command("git", "-C", repo, "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	dir := t.TempDir()
	n := 0
	for name := range strings.SplitSeq(strings.TrimSpace(string(files)), "\n") {
		if ignored(name, patterns) {
			continue
		}
		if _, err := os.Stat(filepath.Join(repo, name)); err != nil {
			continue // deleted in the work tree
		}
		copyFile(t, filepath.Join(repo, name), filepath.Join(dir, name))
		n++
	}
	t.Logf("build context: %d files after .dockerignore", n)
	return dir
}

// ignored reports whether .dockerignore drops name: a pattern matches the path or one of its
// parent directories, with Docker's path.Match semantics and a leading **/ matching any depth.
func ignored(name string, patterns []string) bool {
	parts := strings.Split(name, "/")
	for i := 1; i <= len(parts); i++ {
		p := strings.Join(parts[:i], "/")
		for _, pat := range patterns {
			if sub, ok := strings.CutPrefix(pat, "**/"); ok {
				for j := range i {
					if m, _ := path.Match(sub, strings.Join(parts[j:i], "/")); m {
						return true
					}
				}
				continue
			}
			if m, _ := path.Match(pat, p); m {
				return true
			}
		}
	}
	return false
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestIgnored(t *testing.T) {
	pats := []string{".git", "bin", "test", "**/testdata", "*.pcap"}
	for name, want := range map[string]bool{
		"bin/etcd":                           true,
		"test/e2e/e2e_test.go":               true,
		"capture/protocols/mysql/testdata/a": true,
		"x.pcap":                             true,
		"capture/a.pcap":                     false, // Docker's *.pcap is the root only
		"cmd/capture/main.go":                false,
		"go.mod":                             false,
		"binary/x.go":                        false,
	} {
		if got := ignored(name, pats); got != want {
			t.Errorf("ignored(%q) = %v, want %v", name, got, want)
		}
	}
}

// Command imagebuild builds the webhook and capture images as tarballs, and pushes them, without
// a container engine (make images, make image-push).
//
//	imagebuild build -image webhook|capture -binary FILE -tag NAME:TAG -out FILE.tar
//	imagebuild push -registry HOST[/PATH] FILE.tar...
//
// build takes the file times from SOURCE_DATE_EPOCH when it is set, else the Unix epoch.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/audit-io/wire-audit/internal/imagebuild"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: imagebuild build|push [flags]")
	}
	switch args[0] {
	case "build":
		return build(args[1:])
	case "push":
		return push(args[1:])
	}
	return fmt.Errorf("unknown command %q: want build or push", args[0])
}

func build(args []string) error {
	fs := flag.NewFlagSet("build", flag.ContinueOnError)
	image := fs.String("image", "", "which image: webhook or capture")
	binary := fs.String("binary", "", "the static binary, as make build makes it")
	tag := fs.String("tag", "", "the image name and tag written into the tarball")
	out := fs.String("out", "", "the tarball to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	spec, ok := imagebuild.Specs[*image]
	if !ok {
		return fmt.Errorf("-image %q: want webhook or capture", *image)
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	var created time.Time
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since the epoch: %w", s, err)
		}
		created = time.Unix(sec, 0)
	}
	img, err := imagebuild.Build(spec, imagebuild.Options{Binary: *binary, Created: created})
	if err != nil {
		return fmt.Errorf("%s image: %w", *image, err)
	}
	if err := imagebuild.Write(img, *tag, *out); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fi, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s %s (%.1f MiB)\n", *out, *tag, d, float64(fi.Size())/(1<<20))
	return nil
}

func push(args []string) error {
	fs := flag.NewFlagSet("push", flag.ContinueOnError)
	registry := fs.String("registry", "", "registry host and path to push to, e.g. registry.example/wire-audit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("no tarballs given")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for _, file := range fs.Args() {
		ref, d, err := imagebuild.Push(ctx, file, *registry)
		if err != nil {
			return err
		}
		fmt.Printf("pushed %s as %s@%s\n", file, ref, d)
	}
	return nil
}

//go:build tools

// Package tools pins runc's main package.
package tools

import _ "github.com/opencontainers/runc"

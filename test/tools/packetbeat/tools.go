//go:build tools

// Package tools pins the Packetbeat main package so that go mod tidy keeps it.
package tools

import _ "github.com/elastic/beats/v7/packetbeat"

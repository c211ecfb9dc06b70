package chart

import (
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// freeForm are values whose content is the user's (maps of labels, resources, protocol ports):
// the table documents them as one row.
var freeForm = []string{
	"resources", "podAnnotations", "podLabels", "nodeSelector", "affinity", "serviceAccount.annotations",
	"sidecar.resources", "capture.protocols", "serviceMonitor.labels",
}

// TestDocsListEveryValue: docs/install.md's values table names every value in values.yaml.
func TestDocsListEveryValue(t *testing.T) {
	raw, err := os.ReadFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/install.md")
	if err != nil {
		t.Fatal(err)
	}
	var table []string
	for line := range strings.SplitSeq(string(doc), "\n") {
		if strings.HasPrefix(line, "| `") {
			table = append(table, strings.SplitN(line, "|", 3)[1])
		}
	}
	var leaves []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			path := prefix + k
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 && !slices.Contains(freeForm, path) {
				walk(path+".", sub)
				continue
			}
			leaves = append(leaves, path)
		}
	}
	walk("", values)
	if len(leaves) < 50 {
		t.Fatalf("only %d values found in values.yaml; the walk is broken", len(leaves))
	}
	for _, leaf := range leaves {
		if !slices.ContainsFunc(table, func(cell string) bool { return strings.Contains(cell, "`"+leaf+"`") }) {
			t.Errorf("docs/install.md's values table has no row for %s", leaf)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/model"
)

// modelDirOf writes testThetas as a kmtrain output directory.
func modelDirOf(t *testing.T) string {
	dir := t.TempDir()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, th := range testThetas("v1") {
		if err := enc.Encode(th); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, model.ThetasFile), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, model.ComponentsFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestExerciseOnce checks that an exercise named twice is predicted once.
func TestExerciseOnce(t *testing.T) {
	testutil.SetFlags(t, map[string]string{"model": modelDirOf(t), "history": writeHistory(t), "exercise": "addition,addition"})
	var out bytes.Buffer
	if err := run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "amy,addition,"); n != 1 {
		t.Errorf("amy,addition printed %d times:\n%s", n, out.String())
	}
}

// TestFlagsIgnored checks the flags that would otherwise be accepted and
// ignored: a namespace without Datastore, and every flag after an
// argument, where flag parsing stops.
func TestFlagsIgnored(t *testing.T) {
	testutil.SetFlags(t, map[string]string{"model": modelDirOf(t), "history": writeHistory(t), "datastore_namespace": "staging"})
	if err := run(context.Background(), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--datastore_namespace needs --datastore_project") {
		t.Errorf("--model with --datastore_namespace: %v, want an error", err)
	}
	testutil.SetFlags(t, map[string]string{"datastore_namespace": ""})
	if err := flag.CommandLine.Parse([]string{"stray", "--rank"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flag.CommandLine.Parse(nil) })
	if err := run(context.Background(), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), `unexpected argument "stray"`) {
		t.Errorf("an argument before --rank: %v, want an error", err)
	}
}

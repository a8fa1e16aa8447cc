package main

import (
	"strings"
	"testing"
)

// TestEmptyDatastoreProject checks that an empty --datastore_project is a
// usage error: it was taken as given, and the commands that write panicked
// on a nil store.
func TestEmptyDatastoreProject(t *testing.T) {
	for _, args := range [][]string{
		{"--datastore_project=", "promote", "v1"},
		{"--datastore_project=", "rollback"},
		{"--datastore_project=", "reject", "v1", "--why=bad"},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("kmmodel %s: panic: %v", strings.Join(args, " "), r)
				}
			}()
			code, _, _ := kmmodel(args...)
			if code == 0 {
				t.Errorf("kmmodel %s: exit 0, want an error", strings.Join(args, " "))
			}
		}()
	}
}

package main

import (
	"context"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/internal/testutil"
)

// TestFlagMistakes checks the flags load refuses rather than ignores.
func TestFlagMistakes(t *testing.T) {
	for _, c := range []struct {
		flags map[string]string
		want  string
	}{
		{map[string]string{"synthetic": "10", "input": "/nonexistent/*.csv"}, "not both"},
		{map[string]string{"synthetic": "-5"}, "--synthetic=-5"},
		{map[string]string{"rate": "-1"}, "--rate=-1"},
		{map[string]string{"rate": "NaN"}, "--rate=NaN"},
	} {
		t.Run(c.want, func(t *testing.T) {
			testutil.SetFlags(t, c.flags)
			if logs, _, err := load(context.Background()); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: %d logs, %v; want an error saying %s", c.flags, len(logs), err, c.want)
			}
		})
	}
}

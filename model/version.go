package model

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kmtrain/knowledgemodel/features"
)

// Version is one trained version of the model, as every sink writes it:
// its summary, its thetas sorted by exercise, and the full components table
// sorted by key.
type Version struct {
	Summary    Summary
	Thetas     []ExerciseThetas
	Components []features.Component
}

// Parts are what the stages of a training run produced, in any order.
type Parts struct {
	Thetas  []ExerciseThetas
	Skipped []SkippedExercise
	// Reused is the components table the run started from; New holds the
	// components it derived. A key in both keeps its reused vector.
	Reused, New []features.Component
}

// Assemble builds a version from a run's parts and the part of its summary
// that the parts do not say (identity, settings, what was read and
// dropped), or says why there is nothing to write: an empty model would
// replace the previous one with nothing, which is never what a run is for.
func Assemble(head Summary, p Parts) (Version, error) {
	thetas := slices.Clone(p.Thetas)
	SortThetas(thetas)
	skipped := slices.Clone(p.Skipped)
	sort.Slice(skipped, func(i, j int) bool { return skipped[i].Exercise < skipped[j].Exercise })

	table := make(map[features.ComponentKey]features.Component, len(p.Reused)+len(p.New))
	for _, c := range p.Reused {
		table[c.ComponentKey] = c
	}
	reused := len(table)
	for _, c := range p.New {
		if _, ok := table[c.ComponentKey]; !ok {
			table[c.ComponentKey] = c
		}
	}
	comps := make([]features.Component, 0, len(table))
	for _, c := range table {
		comps = append(comps, c)
	}
	slices.SortFunc(comps, func(a, b features.Component) int { return a.ComponentKey.Compare(b.ComponentKey) })

	sum := head
	sum.ComponentsReused = int64(reused)
	sum.ComponentsNew = int64(len(comps) - reused)
	sum.ExercisesSkipped = len(skipped)
	sum.Skipped = skipped
	sum.CountTrained(thetas)
	sum.SkipReasons = nil
	for _, s := range skipped {
		if sum.SkipReasons == nil {
			sum.SkipReasons = map[string]int{}
		}
		reason, _, _ := strings.Cut(s.Reason, ":")
		sum.SkipReasons[reason]++
	}

	switch {
	case sum.LogsRead == 0:
		return Version{}, sum.CheckLogs()
	case len(thetas) == 0:
		return Version{}, fmt.Errorf("no exercise was trained (%d rows from %d logs; skipped: %v)",
			sum.RowsEmitted, sum.LogsRead, sum.SkipReasons)
	}
	return Version{Summary: sum, Thetas: thetas, Components: comps}, nil
}

package pipeline

import (
	"fmt"
	"strings"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/trainer"
)

// The presets of a run's model settings: the feature set, the penalties,
// what a component is keyed by and the problem numbers trained on.
const (
	// PresetDefault is the setting the project validates best on new
	// students, never worse than the 6-feature model in held-out
	// log-likelihood or AUC on the embedded sample and ASSISTments: the
	// extended features, every problem number, components keyed by
	// exercise and answer, and penalties chosen per exercise by
	// cross-validation (the KnowledgeState admitted by its best score; the
	// 6-feature model kept unless the whole one validates better by a
	// standard error).
	PresetDefault = "default"
	// PresetBest is the setting of the best held-out results the project
	// reports (README, "Real data"): PresetDefault's, but each exercise
	// keeps its whole model unless the 6-feature model validates better
	// (ExtendedBest). On ASSISTments it is better than the default; on
	// the embedded sample's few students it is below the 6-feature model.
	PresetBest = "best"
	// PresetKhan2014 is Khan Academy's 2014 training run, exactly: the 107
	// features, problem numbers 1-5, components keyed by exercise,
	// problem type and answer, and an L2 of 0.001 (DefaultOptions). The
	// conformance case is computed with it.
	PresetKhan2014 = "khan2014"
)

// PresetNames are the presets, as --preset takes them.
var PresetNames = []string{PresetDefault, PresetBest, PresetKhan2014}

// Preset returns DefaultOptions with the model settings of the named
// preset.
func Preset(name string) (Options, error) {
	o := DefaultOptions()
	o.Preset = name
	switch name {
	case PresetKhan2014:
		return o, nil
	case PresetDefault, PresetBest:
		o.Features = features.Extended
		o.Window = features.AllProblems
		o.Keying = features.KeyByExercise
		o.AutoL2 = trainer.DefaultAutoL2()
		o.AutoL2.TailBest = true
		o.ExtendedBest = name == PresetBest
		return o, nil
	}
	return o, fmt.Errorf("preset %q: want one of %s", name, strings.Join(PresetNames, ", "))
}

package model

// Names of the files a training run writes in its output directory, and that
// package predict reads back.
const (
	// ThetasFile holds one ExerciseThetas per line (JSON), sorted by exercise.
	ThetasFile = "thetas.jsonl"
	// ComponentsFile holds the full components table, one features.Component
	// per line (JSON), sorted by key.
	ComponentsFile = "components.jsonl"
	// SummaryFile holds the run's Summary (JSON).
	SummaryFile = "summary.json"
)

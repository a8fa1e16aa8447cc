package store

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/datastore"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
)

// Datastore kinds.
const (
	// KindVersion is one model version (training run): VersionInfo.
	KindVersion = "KnowledgeModelVersion"
	// KindThetas is one exercise's thetas in one version:
	// model.ExerciseThetas, key name ThetasKeyName(version, exercise).
	KindThetas = "ExerciseThetas"
	// KindComponent is one random component: features.Component, key name
	// ComponentKeyName(key). Written once, never changed.
	KindComponent = "RandomComponent"
	// KindCurrent is the single entity (key name CurrentKeyName) naming the
	// version the webapp serves.
	KindCurrent = "KnowledgeModelCurrent"
	// KindSummary is one piece of a version's model.Summary JSON
	// (summaryChunk), key name SummaryChunkKeyName.
	KindSummary = "KnowledgeModelSummary"
	// CurrentKeyName is the key name of the KindCurrent entity.
	CurrentKeyName = "current"
)

// Version statuses.
const (
	// StatusStaged is a version written completely but not served.
	StatusStaged = "staged"
	// StatusCurrent is the version KnowledgeModelCurrent names. Only
	// Promote sets it.
	StatusCurrent = "current"
	// StatusRejected is a version that must not be served (Reject).
	StatusRejected = "rejected"
)

// CheckVersionID reports whether id can name a version: not empty, no "/"
// (it prefixes the thetas' key names), at most 500 bytes, not __reserved__.
func CheckVersionID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("empty version id")
	case strings.Contains(id, "/"):
		return fmt.Errorf("version id %q contains a /", id)
	case len(id) > 500:
		return fmt.Errorf("version id %.40q... is %d bytes long, the limit is 500", id, len(id))
	case strings.HasPrefix(id, "__") && strings.HasSuffix(id, "__"):
		return fmt.Errorf("version id %q is reserved by Datastore", id)
	}
	return nil
}

// ThetasKeyName returns the key name of an exercise's thetas in a version:
// "<version>/<exercise>". The version holds no "/" (CheckVersionID), so the
// first "/" separates the two.
func ThetasKeyName(version, exercise string) string { return version + "/" + exercise }

// keyPart escapes a key field for ComponentKeyName.
var (
	escapePart   = strings.NewReplacer("%", "%25", "/", "%2F")
	unescapePart = strings.NewReplacer("%2F", "/", "%25", "%")
)

// ComponentKeyName returns the key name of a component:
// "<exercise>/<problem_type>/<true|false>", where "%" and "/" inside the
// exercise and the problem type are written "%25" and "%2F". It reads as
// features.ComponentKey.String does for ordinary names, and
// ParseComponentKeyName reverses it for any.
func ComponentKeyName(k features.ComponentKey) string {
	return escapePart.Replace(k.Exercise) + "/" + escapePart.Replace(k.ProblemType) + "/" + strconv.FormatBool(k.Correct)
}

// ParseComponentKeyName returns the component key a ComponentKeyName names.
func ParseComponentKeyName(name string) (features.ComponentKey, error) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return features.ComponentKey{}, fmt.Errorf("component key name %q: want exercise/problem_type/correct", name)
	}
	correct, err := strconv.ParseBool(parts[2])
	if err != nil || (parts[2] != "true" && parts[2] != "false") {
		return features.ComponentKey{}, fmt.Errorf("component key name %q: correct is not true or false", name)
	}
	k := features.ComponentKey{Exercise: unescapePart.Replace(parts[0]), ProblemType: unescapePart.Replace(parts[1]), Correct: correct}
	if ComponentKeyName(k) != name {
		return features.ComponentKey{}, fmt.Errorf("component key name %q: bad escape", name)
	}
	return k, nil
}

// thetasEntity is model.ExerciseThetas as a Datastore entity. Properties:
// version and exercise (indexed: a version's thetas are a query), thetas
// (an array of features.NumFeatures doubles), rows, rows_seen, iterations,
// evaluations, converged, status, loss, training_seconds, l2, correct_rate,
// no_knowledge_thetas and, for the extended feature set,
// difficulty_problem_types and difficulty_values (parallel arrays, by
// problem type) and unseen_difficulty (not indexed).
type thetasEntity model.ExerciseThetas

// Save implements datastore.PropertyLoadSaver.
func (e *thetasEntity) Save() ([]datastore.Property, error) {
	props := []datastore.Property{
		{Name: "version", Value: e.Version},
		{Name: "exercise", Value: e.Exercise},
		{Name: "thetas", Value: floatsToArray(e.Thetas), NoIndex: true},
		{Name: "rows", Value: int64(e.Rows), NoIndex: true},
		{Name: "rows_seen", Value: int64(e.RowsSeen), NoIndex: true},
		{Name: "iterations", Value: int64(e.Iterations), NoIndex: true},
		{Name: "evaluations", Value: int64(e.Evaluations), NoIndex: true},
		{Name: "converged", Value: e.Converged, NoIndex: true},
		{Name: "status", Value: e.Status, NoIndex: true},
		{Name: "loss", Value: e.Loss, NoIndex: true},
		{Name: "training_seconds", Value: e.TrainingSeconds, NoIndex: true},
		{Name: "l2", Value: e.L2, NoIndex: true},
		{Name: "correct_rate", Value: e.CorrectRate, NoIndex: true},
	}
	if len(e.NoKnowledgeThetas) > 0 { // absent when not fitted
		props = append(props, datastore.Property{Name: "no_knowledge_thetas", Value: floatsToArray(e.NoKnowledgeThetas), NoIndex: true})
	}
	if e.ProblemTypeDifficulty != nil { // extended feature set only
		types := slices.Sorted(maps.Keys(e.ProblemTypeDifficulty))
		names := make([]interface{}, len(types))
		values := make([]float64, len(types))
		for i, t := range types {
			names[i], values[i] = t, e.ProblemTypeDifficulty[t]
		}
		props = append(props,
			datastore.Property{Name: "difficulty_problem_types", Value: names, NoIndex: true},
			datastore.Property{Name: "difficulty_values", Value: floatsToArray(values), NoIndex: true},
			datastore.Property{Name: "unseen_difficulty", Value: e.UnseenProblemTypeDifficulty, NoIndex: true})
	}
	return props, nil
}

// Load implements datastore.PropertyLoadSaver. Unknown properties are
// ignored; a known one of the wrong type is an error.
func (e *thetasEntity) Load(props []datastore.Property) error {
	*e = thetasEntity{}
	var err error
	var types []string
	var difficulty []float64
	extended := false // a difficulty table, maybe empty, was stored
	for _, p := range props {
		switch p.Name {
		case "version":
			err = load(p, &e.Version)
		case "exercise":
			err = load(p, &e.Exercise)
		case "thetas":
			e.Thetas, err = arrayToFloats(p)
		case "rows":
			err = loadInt(p, &e.Rows)
		case "rows_seen":
			err = loadInt(p, &e.RowsSeen)
		case "iterations":
			err = loadInt(p, &e.Iterations)
		case "evaluations":
			err = loadInt(p, &e.Evaluations)
		case "converged":
			err = load(p, &e.Converged)
		case "status":
			err = load(p, &e.Status)
		case "loss":
			err = load(p, &e.Loss)
		case "training_seconds":
			err = load(p, &e.TrainingSeconds)
		case "l2":
			err = load(p, &e.L2)
		case "correct_rate":
			err = load(p, &e.CorrectRate)
		case "no_knowledge_thetas":
			e.NoKnowledgeThetas, err = arrayToFloats(p)
		case "difficulty_problem_types":
			types, err = arrayToStrings(p)
			extended = true
		case "difficulty_values":
			difficulty, err = arrayToFloats(p)
		case "unseen_difficulty":
			err = load(p, &e.UnseenProblemTypeDifficulty)
		}
		if err != nil {
			return err
		}
	}
	if len(types) != len(difficulty) {
		return fmt.Errorf("%d difficulty_problem_types but %d difficulty_values", len(types), len(difficulty))
	}
	if extended {
		e.ProblemTypeDifficulty = make(map[string]float64, len(types))
		for i, t := range types {
			e.ProblemTypeDifficulty[t] = difficulty[i]
		}
	}
	return nil
}

// componentEntity is features.Component as a Datastore entity. Properties:
// exercise, problem_type, correct (indexed), vector (an array of
// features.KnowledgeDim doubles, not indexed).
type componentEntity features.Component

// Save implements datastore.PropertyLoadSaver.
func (e *componentEntity) Save() ([]datastore.Property, error) {
	return []datastore.Property{
		{Name: "exercise", Value: e.Exercise},
		{Name: "problem_type", Value: e.ProblemType},
		{Name: "correct", Value: e.Correct},
		{Name: "vector", Value: floatsToArray(e.Vector), NoIndex: true},
	}, nil
}

// Load implements datastore.PropertyLoadSaver.
func (e *componentEntity) Load(props []datastore.Property) error {
	*e = componentEntity{}
	var err error
	for _, p := range props {
		switch p.Name {
		case "exercise":
			err = load(p, &e.Exercise)
		case "problem_type":
			err = load(p, &e.ProblemType)
		case "correct":
			err = load(p, &e.Correct)
		case "vector":
			e.Vector, err = arrayToFloats(p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func load[T any](p datastore.Property, dst *T) error {
	v, ok := p.Value.(T)
	if !ok {
		return fmt.Errorf("property %s is a %T, want %T", p.Name, p.Value, *dst)
	}
	*dst = v
	return nil
}

func loadInt(p datastore.Property, dst *int) error {
	var v int64
	if err := load(p, &v); err != nil {
		return err
	}
	*dst = int(v)
	return nil
}

func floatsToArray(fs []float64) []interface{} {
	a := make([]interface{}, len(fs))
	for i, f := range fs {
		a[i] = f
	}
	return a
}

func arrayToFloats(p datastore.Property) ([]float64, error) { return arrayOf[float64](p, "double") }

func arrayToStrings(p datastore.Property) ([]string, error) { return arrayOf[string](p, "string") }

// arrayOf reads an array property whose elements are all of type T (what
// names it in errors).
func arrayOf[T any](p datastore.Property, what string) ([]T, error) {
	if p.Value == nil { // an empty array
		return nil, nil
	}
	a, ok := p.Value.([]interface{})
	if !ok {
		return nil, fmt.Errorf("property %s is a %T, want an array of %ss", p.Name, p.Value, what)
	}
	out := make([]T, len(a))
	for i, v := range a {
		t, ok := v.(T)
		if !ok {
			return nil, fmt.Errorf("property %s[%d] is a %T, want a %s", p.Name, i, v, what)
		}
		out[i] = t
	}
	return out, nil
}

// versionEntity is a KnowledgeModelVersion entity: small and bounded
// whatever the run, so that it stays far from Datastore's entity limit
// (MaxEntityBytes). It holds the version's status and history, the run's
// headline counts, evaluation and gate as properties (for the console and
// queries), and where its model.Summary is: the summary's JSON, which grows
// with the number of exercises (~7 KB each), is stored apart in
// SummaryChunks KindSummary entities (summaryChunk) whose concatenation has
// SummaryBytes bytes and SHA-256 SummarySHA256.
type versionEntity struct {
	Version            string    `datastore:"version"`
	Created            time.Time `datastore:"created"`
	Input              string    `datastore:"input,noindex"` // at most headlineBytes; the summary has it whole
	FilesRead          int64     `datastore:"files_read,noindex"`
	LogsRead           int64     `datastore:"logs_read,noindex"`
	BadRows            int64     `datastore:"bad_rows,noindex"`
	StudentsKept       int64     `datastore:"students_kept,noindex"`
	StudentsDropped    int64     `datastore:"students_dropped,noindex"`
	LogsDropped        int64     `datastore:"logs_of_dropped_students,noindex"`
	RowsEmitted        int64     `datastore:"rows_emitted,noindex"`
	RowsTrained        int64     `datastore:"rows_trained,noindex"`
	ComponentsReused   int64     `datastore:"components_reused,noindex"`
	ComponentsNew      int64     `datastore:"components_new,noindex"`
	ExercisesTrained   int64     `datastore:"exercises_trained,noindex"`
	ExercisesConverged int64     `datastore:"exercises_converged,noindex"`
	ExercisesSkipped   int64     `datastore:"exercises_skipped,noindex"`
	Summary            string    `datastore:"summary,noindex,omitempty"` // model.Summary as JSON, in versions written before the pieces
	Status             string    `datastore:"status"`
	Reason             string    `datastore:"reason,noindex,omitempty"` // why it was rejected
	Written            time.Time `datastore:"written"`                  // first PutVersion
	Promoted           time.Time `datastore:"promoted,omitempty"`       // last Promote
	Rejected           time.Time `datastore:"rejected,omitempty"`       // Reject

	// History is the version's []StatusChange as JSON, bounded (history.go).
	History string `datastore:"history,noindex,omitempty"`

	// Where the summary is: SummaryChunks pieces (none in a version written
	// before the pieces, whose Summary holds the JSON: it is read, and kept
	// by Promote and Reject, as it is).
	SummaryChunks int64  `datastore:"summary_chunks,noindex"`
	SummaryBytes  int64  `datastore:"summary_bytes,noindex"`
	SummarySHA256 string `datastore:"summary_sha256,noindex"`

	// The headline of the held-out evaluation (absent without one; a
	// metric that is undefined is absent too) and of the promotion gate.
	EvalAttempts       *int64   `datastore:"eval_attempts,noindex,omitempty"`
	EvalLogLikelihood  *float64 `datastore:"eval_log_likelihood,noindex,omitempty"`
	EvalAUC            *float64 `datastore:"eval_auc,noindex,omitempty"`
	EvalAccuracy       *float64 `datastore:"eval_accuracy,noindex,omitempty"`
	EvalNoThetas       *int64   `datastore:"eval_no_thetas_attempts,noindex,omitempty"`
	GatePassed         *bool    `datastore:"gate_passed,noindex,omitempty"`
	GateForced         bool     `datastore:"gate_forced,noindex,omitempty"`
	GateCurrentVersion string   `datastore:"gate_current_version,noindex,omitempty"`
	GateDelta          *float64 `datastore:"gate_delta,noindex,omitempty"`
	GateReason         string   `datastore:"gate_reason,noindex,omitempty"` // at most headlineBytes
}

// headlineBytes bounds the free-text headline properties (input,
// gate_reason): the summary holds them whole.
const headlineBytes = 1500

// newVersionEntity returns the version entity of s, whose JSON is j.
func newVersionEntity(s model.Summary, j []byte) *versionEntity {
	e := &versionEntity{
		Version:            s.Version,
		Created:            s.Created,
		Input:              truncate(s.Input, headlineBytes),
		FilesRead:          s.FilesRead,
		LogsRead:           s.LogsRead,
		BadRows:            s.BadRows,
		StudentsKept:       s.StudentsKept,
		StudentsDropped:    s.StudentsDropped,
		LogsDropped:        s.LogsDropped,
		RowsEmitted:        s.RowsEmitted,
		RowsTrained:        s.RowsTrained,
		ComponentsReused:   s.ComponentsReused,
		ComponentsNew:      s.ComponentsNew,
		ExercisesTrained:   int64(s.ExercisesTrained),
		ExercisesConverged: int64(s.ExercisesConverged),
		ExercisesSkipped:   int64(s.ExercisesSkipped),
		SummaryChunks:      int64(len(splitSummary(j))),
		SummaryBytes:       int64(len(j)),
		SummarySHA256:      summaryDigest(j),
	}
	if ev := s.Evaluation; ev != nil {
		e.EvalAttempts, e.EvalNoThetas = &ev.Overall.Attempts, &ev.NoThetas.Attempts
		e.EvalLogLikelihood, e.EvalAUC, e.EvalAccuracy = ev.Overall.LogLikelihood, ev.Overall.AUC, ev.Overall.Accuracy
	}
	if g := s.Gate; g != nil {
		e.GatePassed, e.GateForced, e.GateCurrentVersion = &g.Passed, g.Forced, g.CurrentVersion
		e.GateDelta, e.GateReason = &g.Delta, truncate(g.Reason, headlineBytes)
	}
	return e
}

// truncate cuts s to at most n bytes, at a character boundary, marking the
// cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// VersionInfo is a model version as stored: its status and history, and
// the summary of the run that trained it.
type VersionInfo struct {
	ID       string
	Status   string    // StatusStaged, StatusCurrent or StatusRejected
	Reason   string    // why it was rejected
	Written  time.Time // when PutVersion first wrote it
	Promoted time.Time // when it last became current; zero if never
	Rejected time.Time // when it was rejected; zero if not
	Summary  model.Summary
	// History is the version's status changes, oldest first: the newest
	// MaxHistory of them.
	History []StatusChange
}

// info returns the version e describes, with summary, its model.Summary's
// JSON (readSummary).
func (e *versionEntity) info(summary []byte) (VersionInfo, error) {
	v := VersionInfo{ID: e.Version, Status: e.Status, Reason: e.Reason,
		Written: e.Written, Promoted: e.Promoted, Rejected: e.Rejected}
	if err := json.Unmarshal(summary, &v.Summary); err != nil {
		return v, fmt.Errorf("version %s: summary: %v", e.Version, err)
	}
	var err error
	v.History, err = e.history()
	return v, err
}

// currentEntity is the KnowledgeModelCurrent entity.
type currentEntity struct {
	Version  string    `datastore:"version"`
	Previous string    `datastore:"previous,noindex"` // the version it replaced
	Switched time.Time `datastore:"switched"`
}

// Package predict is the serving side of the knowledge model: it loads one
// version (thetas and components) and predicts whether a student answers
// the next problem of an exercise correctly.
//
// Features are computed exactly as training computed them: the history is
// sorted with features.SortLogs and replayed with features.Student, and
// components the version's table lacks are derived with
// features.DeriveComponent, as the training run would have derived them.
// The probability is train.Predict: sigmoid(θ·x).
//
// The package is plain Go: no Beam, no cloud client. A Model comes from New
// (records from any store, e.g. package store), or from LoadDir (a kmtrain
// output directory).
package predict

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/train"
)

// Model is one version of the knowledge model, ready to predict. Its
// methods are safe for concurrent use; the fields must not be changed after
// New.
type Model struct {
	// Version is the model version id.
	Version string
	// Thetas maps an exercise to its thetas: features.Khan2014.Dim() of
	// them, or features.Extended.Dim() for an exercise trained on the
	// extended features.
	Thetas map[string][]float64
	// Components is the version's components table; keys it lacks are
	// derived (and kept) on first use.
	Components *features.Components
	// Difficulty holds the problem types' difficulty of the exercises
	// trained on the extended features.
	Difficulty map[string]Difficulty
}

// New returns the model of a version from its thetas and components. Every
// exercise must have thetas that pass CheckThetas and appear once, and the
// difficulties and components' values be bounded as the thetas are;
// thetas records that name a version must name this one; components must be
// valid and not contradict each other.
func New(version string, thetas []model.ExerciseThetas, components []features.Component) (*Model, error) {
	if len(thetas) == 0 {
		return nil, fmt.Errorf("model version %q has no thetas", version)
	}
	m := &Model{Version: version, Thetas: make(map[string][]float64, len(thetas))}
	for _, t := range thetas {
		if t.Exercise == "" {
			return nil, fmt.Errorf("model version %q: thetas without an exercise", version)
		}
		if t.Version != "" && t.Version != version {
			return nil, fmt.Errorf("model version %q: thetas of exercise %q belong to version %q", version, t.Exercise, t.Version)
		}
		if err := model.CheckThetas(t.Thetas); err != nil {
			return nil, fmt.Errorf("model version %q: exercise %q: %v", version, t.Exercise, err)
		}
		if n := len(t.NoKnowledgeThetas); n != 0 && n != 1+features.NumExerciseFeatures {
			return nil, fmt.Errorf("model version %q: exercise %q: %d thetas without the KnowledgeState, want %d", version, t.Exercise, n, 1+features.NumExerciseFeatures)
		}
		for i, v := range t.NoKnowledgeThetas {
			if err := model.CheckValue(v); err != nil {
				return nil, fmt.Errorf("model version %q: exercise %q: theta %d without the KnowledgeState %v", version, t.Exercise, i, err)
			}
		}
		if !(t.CorrectRate >= 0 && t.CorrectRate <= 1) {
			return nil, fmt.Errorf("model version %q: exercise %q: correct rate %v is not in [0, 1]", version, t.Exercise, t.CorrectRate)
		}
		if _, dup := m.Thetas[t.Exercise]; dup {
			return nil, fmt.Errorf("model version %q: exercise %q has thetas twice", version, t.Exercise)
		}
		m.Thetas[t.Exercise] = slices.Clone(t.Thetas)
		for pt, d := range t.ProblemTypeDifficulty {
			if err := model.CheckValue(d); err != nil {
				return nil, fmt.Errorf("model version %q: exercise %q: the difficulty of problem type %q %v", version, t.Exercise, pt, err)
			}
		}
		if err := model.CheckValue(t.UnseenProblemTypeDifficulty); err != nil {
			return nil, fmt.Errorf("model version %q: exercise %q: the unseen problem types' difficulty %v", version, t.Exercise, err)
		}
		if len(t.Thetas) == features.Extended.Dim() {
			if m.Difficulty == nil {
				m.Difficulty = map[string]Difficulty{}
			}
			m.Difficulty[t.Exercise] = Difficulty{ByProblemType: t.ProblemTypeDifficulty, Unseen: t.UnseenProblemTypeDifficulty}
		}
	}
	for _, c := range components {
		for i, v := range c.Vector {
			if err := model.CheckValue(v); err != nil {
				return nil, fmt.Errorf("model version %q: component %s: value %d %v", version, c.ComponentKey, i, err)
			}
		}
	}
	c, err := features.NewComponents(components)
	if err != nil {
		return nil, fmt.Errorf("model version %q: %v", version, err)
	}
	m.Components = c
	return m, nil
}

// Predict returns the probability that a student with the given history
// answers their next problem of exercise correctly, and false when the
// model has no thetas for exercise. The history may be in any order (it is
// sorted with features.SortLogs, on a copy) and is replayed whole: gaps in
// problem numbers are not a reason to refuse, as they are in training.
// Student.Predict says what an extended model assumes of the next problem.
func (m *Model) Predict(history []features.ProblemLog, exercise string) (float64, bool) {
	if _, ok := m.Thetas[exercise]; !ok {
		return 0, false
	}
	return m.replay(history).Predict(exercise)
}

// PredictAttempt is Predict for a known next attempt: its exercise, problem
// type and time (Student.PredictAttempt).
func (m *Model) PredictAttempt(history []features.ProblemLog, next features.ProblemLog) (float64, bool) {
	if _, ok := m.Thetas[next.Exercise]; !ok {
		return 0, false
	}
	return m.replay(history).PredictAttempt(next)
}

// replay returns a student who has made the attempts of history.
func (m *Model) replay(history []features.ProblemLog) *Student {
	logs := slices.Clone(history)
	features.SortLogs(logs)
	s := m.NewStudent()
	for _, l := range logs {
		s.Apply(l)
	}
	return s
}

// Student is one student's state under a model, for predicting attempt
// after attempt (monitoring) without replaying the history each time.
// A Student is not safe for concurrent use; distinct Students of one Model
// are.
type Student struct {
	m    *Model
	s    *features.Student
	x    [features.NumFeatures]float64
	ext  []float64 // the extended features
	last time.Time // of the latest attempt applied
}

// FromRecords returns the model of a version's records, whatever store
// they come from: New, with the components keyed as r.ComponentKey says.
func FromRecords(r model.Records) (*Model, error) {
	k, err := features.ParseComponentKeying(r.ComponentKey)
	if err != nil {
		return nil, fmt.Errorf("model version %q: %v", r.Version, err)
	}
	m, err := New(r.Version, r.Thetas, r.Components)
	if err != nil {
		return nil, err
	}
	m.Components.Keying = k
	return m, nil
}

// NewStudent returns a student who has answered nothing.
func (m *Model) NewStudent() *Student {
	return &Student{m: m, s: features.NewStudent(m.Components.View())}
}

// AppendBinary appends the student's state to b (features.Student's
// AppendBinary): what ReadStudent reads back, under this model or another.
func (s *Student) AppendBinary(b []byte) ([]byte, error) { return s.s.AppendBinary(b) }

// ReadStudent returns the student whose state a Student's AppendBinary
// wrote, under this model: the same history, with this model's
// KnowledgeState. A state written under a model keyed by exercise cannot be
// read under one keyed by problem type (features.ErrKeyingChanged).
func (m *Model) ReadStudent(data []byte) (*Student, error) {
	fs, err := features.ReadStudent(m.Components.View(), data)
	if err != nil {
		return nil, err
	}
	return &Student{m: m, s: fs, last: fs.LastAttempt()}, nil
}

// Apply folds an attempt into the student's state. Attempts must be applied
// in the order features.SortLogs gives.
func (s *Student) Apply(l features.ProblemLog) {
	s.s.Apply(l)
	s.last = l.TimeDone
}

// Attempts returns how many attempts at exercise have been applied.
func (s *Student) Attempts(exercise string) int { return s.s.Attempts(exercise) }

// Predict returns the probability that the student answers their next
// problem of exercise correctly, and false when the model has no thetas for
// exercise. For an exercise trained on the extended features, whose
// problem type and time are not known here, the problem type counts as
// one training did not see and the time as that of the latest attempt
// applied; PredictAttempt knows both.
func (s *Student) Predict(exercise string) (float64, bool) {
	return s.PredictAttempt(features.ProblemLog{Exercise: exercise, TimeDone: s.last})
}

// PredictAttempt returns the probability that attempt l (its exercise,
// problem type and time; its answer is not read) is correct, computed before
// it is applied, and false when the model has no thetas for l's exercise.
func (s *Student) PredictAttempt(l features.ProblemLog) (float64, bool) {
	th, ok := s.m.Thetas[l.Exercise]
	if !ok {
		return 0, false
	}
	if len(th) == features.Extended.Dim() {
		if s.ext == nil {
			s.ext = make([]float64, features.Extended.Dim())
		}
		s.s.FeaturesOf(features.Extended, l, s.m.Difficulty[l.Exercise].Of(l.ProblemType), s.ext)
		return train.Predict(th, s.ext), true
	}
	s.s.Features(l.Exercise, &s.x)
	return train.Predict(th, s.x[:]), true
}

// Difficulty is an extended model's estimate of how hard each problem type
// of an exercise is (features.DifficultyCounts.Table).
type Difficulty struct {
	ByProblemType map[string]float64
	Unseen        float64 // of a problem type training did not see
}

// Of returns a problem type's difficulty.
func (d Difficulty) Of(problemType string) float64 {
	if v, ok := d.ByProblemType[problemType]; ok {
		return v
	}
	return d.Unseen
}

// PredictPrefix returns the probability of a correct answer on exercise
// from thetas over the first len(thetas) features only: the model without
// the KnowledgeState has 7 (the bias and the 6 ExerciseState features).
func (s *Student) PredictPrefix(exercise string, thetas []float64) float64 {
	s.s.Features(exercise, &s.x)
	return train.Predict(thetas, s.x[:len(thetas)])
}

// Features returns the features.NumFeatures features of the student's next
// attempt at exercise, as the model sees them.
func (s *Student) Features(exercise string) []float64 {
	s.s.Features(exercise, &s.x)
	return slices.Clone(s.x[:])
}

// LoadDir loads the model a kmtrain run wrote in the local directory dir
// (Load with os.Open).
func LoadDir(dir string) (*Model, error) {
	return Load(func(path string) (io.ReadCloser, error) { return os.Open(path) }, dir)
}

// Load loads the model a kmtrain run wrote in dir, opening its files with
// open: FromRecords of LoadRecords.
func Load(open model.Opener, dir string) (*Model, error) {
	r, err := LoadRecords(open, dir)
	if err != nil {
		return nil, err
	}
	m, err := FromRecords(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", strings.TrimSuffix(dir, "/"), err)
	}
	return m, nil
}

// LoadRecords reads the records of the version a kmtrain run wrote in dir,
// opening its files with open: model.ThetasFile, model.ComponentsFile and,
// if present, model.SummaryFile, through model.OpenFile (so a publish
// killed after its commit point reads as the new model). The version is
// the summary's, else the thetas'.
func LoadRecords(open model.Opener, dir string) (model.Records, error) {
	dir = strings.TrimSuffix(dir, "/")
	read := func(name string, parse func(io.Reader) error) error {
		rc, err := model.OpenFile(open, dir, name)
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := parse(rc); err != nil {
			return fmt.Errorf("%s/%s: %v", dir, name, err)
		}
		return nil
	}
	var thetas []model.ExerciseThetas
	var comps []features.Component
	var sum model.Summary
	hasSummary := false
	err := read(model.ThetasFile, func(r io.Reader) (err error) { thetas, err = model.ReadThetasJSONL(r); return err })
	if err == nil {
		err = read(model.ComponentsFile, func(r io.Reader) (err error) { comps, err = features.ReadComponentsJSONL(r); return err })
	}
	if err == nil {
		err = read(model.SummaryFile, func(r io.Reader) error {
			b, err := io.ReadAll(r)
			if err != nil {
				return err
			}
			hasSummary = true
			return json.Unmarshal(b, &sum)
		})
		if errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	}
	if err != nil {
		return model.Records{}, err
	}
	if hasSummary && len(thetas) != sum.ExercisesTrained {
		return model.Records{}, fmt.Errorf("%s/%s: %d exercises' thetas, %s says %d trained: the model is incomplete",
			dir, model.ThetasFile, len(thetas), model.SummaryFile, sum.ExercisesTrained)
	}
	version := sum.Version
	if version == "" && len(thetas) > 0 {
		version = thetas[0].Version
	}
	return model.Records{Version: version, ComponentKey: sum.Settings.ComponentKey, Thetas: thetas, Components: comps,
		HeldOut: sum.HeldOut()}, nil
}

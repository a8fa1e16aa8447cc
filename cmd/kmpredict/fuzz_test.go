package main

import (
	"bytes"
	"io"
	"math"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/problemlogs"
)

// fuzzModel has thetas for "ex" in both feature sets' sizes: "ex" (Khan's
// 107) and "ext" (extended).
func fuzzModel(t testing.TB) *predict.Model {
	k := make([]float64, features.Khan2014.Dim())
	e := make([]float64, features.Extended.Dim())
	for i := range k {
		k[i] = 0.1 * float64(i%5-2)
	}
	for i := range e {
		e[i] = -0.1 * float64(i%3-1)
	}
	m, err := predict.New("v1", []model.ExerciseThetas{
		{Exercise: "ex", Thetas: k},
		{Exercise: "ext", Thetas: e, ProblemTypeDifficulty: map[string]float64{"pt": 0.3}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// FuzzHistory parses kmpredict's --history (CSV with a header or JSON
// lines, as a file of any name) and predicts for every student it reads:
// parsing returns students whose logs are all valid or an error, and every
// prediction is a probability.
func FuzzHistory(f *testing.F) {
	f.Add("h.csv", []byte("user,time_done,exercise,problem_type,problem_number,correct\n"+
		"ada,2014-01-01T00:00:00Z,ex,pt,1,true\nada,2014-01-01T00:01:00Z,ext,pt,1,false\n"+
		"bob,2014-01-01 00:02:00 UTC,ex,pt,7,1\nbob,bad,ex,pt,1,true\n"))
	f.Add("h.json", []byte(`{"user":"u","time_done":"2014-01-01T00:00:00Z","exercise":"ext","problem_type":"pt","problem_number":-3,"correct":true}`+"\n"+
		`{"user":"u","time_done":"0001-01-01T00:00:00Z","exercise":"ext","problem_type":"zz","problem_number":9223372036854775807,"correct":false}`+"\n"))
	f.Add("history", []byte("user,time_done,exercise,problem_type,problem_number,correct\nu\x00,2014-01-01T00:00:00Z,ex,pt,1,true\n"))
	f.Add("h.csv", []byte("user,time_done,exercise\n"))
	m := fuzzModel(f)
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		students, err := parseHistory(bytes.NewReader(data), name, problemlogs.DefaultColumns, io.Discard)
		if err != nil {
			return
		}
		for u, logs := range students {
			for _, l := range logs {
				if l.User != u || problemlogs.CheckNames(l, problemlogs.DefaultColumns) != nil || !features.TimeInRange(l.TimeDone) {
					t.Fatalf("student %q: a bad log %+v", u, l)
				}
			}
			last := time.Time{}
			for _, l := range logs {
				if l.TimeDone.After(last) {
					last = l.TimeDone
				}
			}
			for _, ex := range []string{"ex", "ext"} {
				p, ok := m.PredictAttempt(logs, features.ProblemLog{User: u, Exercise: ex, ProblemType: "pt", TimeDone: last})
				if !ok || math.IsNaN(p) || p < 0 || p > 1 {
					t.Fatalf("student %q, exercise %s: p = %v, %v", u, ex, p, ok)
				}
			}
		}
	})
}

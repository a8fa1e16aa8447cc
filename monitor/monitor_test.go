package monitor_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/monitor"
)

func ptr(v float64) *float64 { return &v }

var rows = []monitor.Row{
	{Day: "2014-01-02", Exercise: "b", Attempts: 2, Correct: 1, LogLikelihood: ptr(-0.7), AUC: ptr(1), Accuracy: ptr(0.5)},
	{Day: "2014-01-01", Exercise: "a", Attempts: 3, Correct: 3, LogLikelihood: ptr(-0.2), Accuracy: ptr(1)},
	{Day: "2014-01-01", Exercise: "c", NoThetas: 4},
}

func TestAssemble(t *testing.T) {
	read := monitor.Summary{AttemptsScored: 5, AttemptsNoThetas: 4, InputCounts: model.InputCounts{FilesRead: 1, LogsRead: 9}}
	tests := []struct {
		name     string
		sum      monitor.Summary
		versions []string
		want     string // an error's text; "" for none
	}{
		{"complete", read, []string{"v1"}, ""},
		{"no logs", monitor.Summary{InputCounts: model.InputCounts{FilesRead: 1}}, []string{"v1"}, "no ProblemLogs"},
		{"nothing predicted", read, nil, "no attempt was predicted"},
		{"two versions", read, []string{"v1", "v2"}, "different model versions"},
		{"rows and counts disagree", monitor.Summary{AttemptsScored: 6, InputCounts: model.InputCounts{FilesRead: 1, LogsRead: 9}}, []string{"v1"}, "5 attempts in the rows, 6 scored"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, scored, err := monitor.Assemble(tt.sum, tt.versions, rows)
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Assemble: %v, want an error about %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(scored) != 2 || scored[0].Exercise != "a" || scored[1].Exercise != "b" {
				t.Errorf("scored rows %+v: want a then b, by day", scored)
			}
			if sum.ModelVersion != "v1" || sum.Exercises != 2 || sum.Days != 2 || sum.First != "2014-01-01" || sum.Last != "2014-01-02" ||
				len(sum.NoThetasExercises) != 1 || sum.NoThetasExercises[0].Attempts != 4 {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := monitor.WriteCSV(&b, rows[:2]); err != nil {
		t.Fatal(err)
	}
	want := "day,exercise,attempts,correct,log_likelihood,auc,accuracy\n" +
		"2014-01-02,b,2,1,-0.7,1,0.5\n" +
		"2014-01-01,a,3,3,-0.2,,1\n"
	if b.String() != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", b.String(), want)
	}
}

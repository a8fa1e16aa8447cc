package problemlogs

import (
	"errors"
	"strings"
	"testing"

	"github.com/kmtrain/knowledgemodel/features"
)

func TestRead(t *testing.T) {
	tests := []struct {
		name, file, text string
		logs             int
		bad              []int // lines of bad rows
		wantErr          bool
	}{
		{"csv", "a.csv", "user,time_done,exercise,problem_type,problem_number,correct\nu,2014-01-02T03:04:05Z,e,t,1,true\n\nu,bad,e,t,2,true\n", 1, []int{4}, false},
		{"json", "a.json", `{"user":"u","time_done":"2014-01-02 03:04:05 UTC","exercise":"e","problem_type":"t","problem_number":1,"correct":true}` + "\n{\n", 1, []int{2}, false},
		{"json by content", "logs", `{"user":"u","time_done":"2014-01-02T03:04:05Z","exercise":"e","problem_type":"t","problem_number":"1","correct":"1"}` + "\n", 1, nil, false},
		{"json with a BOM", "a.jsonl", "\xef\xbb\xbf" + `{"user":"u","time_done":"2014-01-02T03:04:05Z","exercise":"e","problem_type":"t","problem_number":1,"correct":true}` + "\n", 1, nil, false},
		{"json with a BOM, by content", "export-000", "\xef\xbb\xbf" + `{"user":"u","time_done":"2014-01-02T03:04:05Z","exercise":"e","problem_type":"t","problem_number":1,"correct":true}` + "\n", 1, nil, false},
		{"csv with a BOM", "export-000", "\xef\xbb\xbfuser,time_done,exercise,problem_type,problem_number,correct\nu,2014-01-02T03:04:05Z,e,t,1,true\n", 1, nil, false},
		{"empty", "a.csv", "", 0, nil, false},
		{"header only", "a.csv", "user,time_done,exercise,problem_type,problem_number,correct\n", 0, nil, false},
		{"missing column", "a.csv", "user,time_done,exercise,problem_number,correct\nu,2014-01-02,e,1,true\n", 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := 0
			var bad []int
			err := Read(strings.NewReader(tt.text), tt.file, DefaultColumns, func(n int, l features.ProblemLog, err error) error {
				if err != nil {
					var re *RowError
					if !errors.As(err, &re) {
						t.Errorf("line %d: %v is not a *RowError", n, err)
					}
					bad = append(bad, n)
					return nil
				}
				logs++
				return nil
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Read: %v, want error %v", err, tt.wantErr)
			}
			if logs != tt.logs || len(bad) != len(tt.bad) || (len(bad) > 0 && bad[0] != tt.bad[0]) {
				t.Errorf("got %d logs, bad lines %v; want %d, %v", logs, bad, tt.logs, tt.bad)
			}
		})
	}
}

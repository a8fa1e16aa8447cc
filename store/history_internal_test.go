package store

import (
	"testing"
	"time"
)

func TestRecordOnce(t *testing.T) {
	var e versionEntity
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	changes := []StatusChange{
		{Time: t0, From: StatusStaged, To: StatusRejected, By: "kmtrain run b", Why: "worse"},
		// The same again, as a retried Reject records it (the version is
		// rejected already), and a retried refusal: once each.
		{Time: t0.Add(time.Second), From: StatusRejected, To: StatusRejected, By: "kmtrain run b", Why: "worse"},
		{Time: t0.Add(2 * time.Second), From: StatusRejected, To: StatusRejected, By: "kmtrain run c", Why: "not promoted"},
		{Time: t0.Add(3 * time.Second), From: StatusRejected, To: StatusRejected, By: "kmtrain run c", Why: "not promoted"},
		{Time: t0.Add(4 * time.Second), From: StatusRejected, To: StatusCurrent, By: "kmmodel", Why: "--force"},
	}
	for _, c := range changes {
		if err := e.record(c); err != nil {
			t.Fatal(err)
		}
	}
	h, err := e.history()
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || !h[1].Time.Equal(changes[2].Time) || h[2].To != StatusCurrent {
		t.Errorf("history %+v: want the first, third and last changes", h)
	}
}

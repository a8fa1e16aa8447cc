package transforms

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/wire"
)

// LogBatch is ProblemLogs as one element. Sources batch the logs they read
// per group of students (StudentGroup) so that the GroupByKey that gathers
// each student's logs moves a few large elements per reader, not one per
// log or per student; after the replay, a held-out student's logs travel
// as one LogBatch keyed by the user.
type LogBatch struct {
	Logs []features.ProblemLog
}

// eachStudent gathers the logs of a group of students and calls f with
// each student's, students in order of user id and each student's logs in
// the order they came. f may keep the slice it is given.
func eachStudent(batches func(*LogBatch) bool, f func(user string, logs []features.ProblemLog) error) error {
	var all []features.ProblemLog
	var b LogBatch
	for batches(&b) {
		all = append(all, b.Logs...)
	}
	slices.SortStableFunc(all, func(x, y features.ProblemLog) int { return strings.Compare(x.User, y.User) })
	for len(all) > 0 {
		n := 1
		for n < len(all) && all[n].User == all[0].User {
			n++
		}
		if err := f(all[0].User, all[:n:n]); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

// encodeLogBatch writes a batch compactly: the strings of a batch go into a
// table once, times as deltas.
func encodeLogBatch(b LogBatch) []byte {
	index := map[string]uint64{}
	var table []string
	ref := func(s string) uint64 {
		i, ok := index[s]
		if !ok {
			i = uint64(len(table))
			index[s] = i
			table = append(table, s)
		}
		return i
	}
	body := make([]byte, 0, 16*len(b.Logs))
	var prev int64
	for _, l := range b.Logs {
		body = binary.AppendUvarint(body, ref(l.User))
		body = binary.AppendUvarint(body, ref(l.Exercise))
		body = binary.AppendUvarint(body, ref(l.ProblemType))
		t := l.TimeDone.UnixNano()
		body = binary.AppendVarint(body, t-prev)
		prev = t
		body = binary.AppendVarint(body, int64(l.ProblemNumber))
		body = wire.AppendBool(body, l.Correct)
	}
	out := binary.AppendUvarint(nil, uint64(len(table)))
	for _, s := range table {
		out = wire.AppendPrefixedString(out, s)
	}
	out = binary.AppendUvarint(out, uint64(len(b.Logs)))
	return append(out, body...)
}

func decodeLogBatch(data []byte) (LogBatch, error) {
	d := &wire.Decoder{B: data}
	nt := d.Uvarint()
	if d.Err != nil || nt > uint64(len(d.B)) { // each name takes a byte at least
		return LogBatch{}, wire.ErrCorrupt
	}
	table := make([]string, nt)
	for i := range table {
		table[i] = d.PrefixedString()
	}
	str := func() string {
		i := d.Uvarint()
		if i >= uint64(len(table)) {
			d.Err = wire.ErrCorrupt
			return ""
		}
		return table[i]
	}
	n := d.Uvarint()
	if d.Err != nil || n > uint64(len(d.B)) {
		return LogBatch{}, wire.ErrCorrupt
	}
	logs := make([]features.ProblemLog, n)
	var t int64
	for i := range logs {
		l := &logs[i]
		l.User, l.Exercise, l.ProblemType = str(), str(), str()
		t += d.Varint()
		l.TimeDone = time.Unix(0, t).UTC()
		l.ProblemNumber, l.Correct = int(d.Varint()), d.Bool()
	}
	if d.Err != nil {
		return LogBatch{}, d.Err
	}
	return LogBatch{Logs: logs}, nil
}

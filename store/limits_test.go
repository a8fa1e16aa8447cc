package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	pb "cloud.google.com/go/datastore/apiv1/datastorepb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmtrain/knowledgemodel/store"
)

// Builders of the wire form the checker reads.

func nameKey(ns string, kindNames ...string) *pb.Key {
	k := &pb.Key{PartitionId: &pb.PartitionId{ProjectId: "p", NamespaceId: ns}}
	for i := 0; i+1 < len(kindNames); i += 2 {
		k.Path = append(k.Path, &pb.Key_PathElement{Kind: kindNames[i], IdType: &pb.Key_PathElement_Name{Name: kindNames[i+1]}})
	}
	return k
}

func idKey(ns string, kindIDs ...any) *pb.Key {
	k := &pb.Key{PartitionId: &pb.PartitionId{ProjectId: "p", NamespaceId: ns}}
	for i := 0; i+1 < len(kindIDs); i += 2 {
		k.Path = append(k.Path, &pb.Key_PathElement{Kind: kindIDs[i].(string), IdType: &pb.Key_PathElement_Id{Id: kindIDs[i+1].(int64)}})
	}
	return k
}

func str(s string, indexed bool) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_StringValue{StringValue: s}, ExcludeFromIndexes: !indexed}
}

func blob(n int, indexed bool) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_BlobValue{BlobValue: make([]byte, n)}, ExcludeFromIndexes: !indexed}
}

func integer(i int64, indexed bool) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_IntegerValue{IntegerValue: i}, ExcludeFromIndexes: !indexed}
}

func array(vs ...*pb.Value) *pb.Value {
	return &pb.Value{ValueType: &pb.Value_ArrayValue{ArrayValue: &pb.ArrayValue{Values: vs}}}
}

func entity(k *pb.Key, props ...any) *pb.Entity {
	e := &pb.Entity{Key: k, Properties: map[string]*pb.Value{}}
	for i := 0; i+1 < len(props); i += 2 {
		e.Properties[props[i].(string)] = props[i+1].(*pb.Value)
	}
	return e
}

func upsert(e *pb.Entity) *pb.Mutation {
	return &pb.Mutation{Operation: &pb.Mutation_Upsert{Upsert: e}}
}

func commit(transactional bool, ms ...*pb.Mutation) *pb.CommitRequest {
	r := &pb.CommitRequest{ProjectId: "p", Mutations: ms, Mode: pb.CommitRequest_NON_TRANSACTIONAL}
	if transactional {
		r.Mode = pb.CommitRequest_TRANSACTIONAL
		r.TransactionSelector = &pb.CommitRequest_Transaction{Transaction: []byte("tx")}
	}
	return r
}

// TestStorageSize checks the sizes against the examples of
// https://cloud.google.com/datastore/docs/concepts/storage-size.
func TestStorageSize(t *testing.T) {
	for _, c := range []struct {
		key  *pb.Key
		want int
	}{
		{idKey("", "Task", int64(5730082031140864)), 29},
		{nameKey("", "Task", "my_task_id"), 32},
		{idKey("", "TaskList", int64(5654313976201216), "Task", int64(5629499534213120)), 46},
		{idKey("my_name_space", "TaskList", int64(5654313976201216), "Task", int64(5629499534213120)), 60},
	} {
		if got := store.KeySize(c.key); got != c.want {
			t.Errorf("KeySize(%v) = %d, want %d", c.key.Path, got, c.want)
		}
	}
	task := entity(idKey("", "Task", int64(5730082031140864)),
		"type", str("Personal", true),
		"done", &pb.Value{ValueType: &pb.Value_BooleanValue{BooleanValue: false}},
		"priority", integer(1, true),
		"description", str("Learn Cloud Datastore", true))
	if got := store.EntitySize(task); got != 29+71+32 {
		t.Errorf("EntitySize(the documentation's Task) = %d, want 132", got)
	}
	arr := entity(nameKey("", "K", "a"), "xs", array(integer(1, false), integer(2, false), str("abc", false)))
	if got := store.EntitySize(arr); got != (16+2+2)+(3+8+8+4)+32 {
		t.Errorf("EntitySize(an array of 2 integers and a string) = %d, want %d", got, (16+2+2)+(3+8+8+4)+32)
	}
}

func TestCheckEntity(t *testing.T) {
	k := nameKey("", "K", "a")
	// An entity of two unindexed strings whose storage size is n bytes:
	// key 20, 32, each property 2 + len + 1.
	sized := func(n int) *pb.Entity {
		rest := n - 20 - 32 - 2*3
		return entity(k, "p", str(strings.Repeat("x", store.MaxValueBytes), false),
			"q", str(strings.Repeat("y", rest-store.MaxValueBytes), false))
	}
	nested := entity(nil, "leaf", integer(1, true))
	for range store.MaxDepth {
		nested = entity(nil, "e", &pb.Value{ValueType: &pb.Value_EntityValue{EntityValue: nested}})
	}
	many := make([]*pb.Value, store.MaxIndexEntries/2+1)
	for i := range many {
		many[i] = integer(int64(i), true)
	}
	long := strings.Repeat("k", store.MaxKeyNameBytes)
	for _, c := range []struct {
		name   string
		entity *pb.Entity
		err    string // a part of the error; "" for none
	}{
		{"small", entity(k, "s", str("x", true), "i", integer(1, false)), ""},
		{"entity under the limit", sized(store.MaxEntityBytes - 64), ""},
		{"entity over the limit", sized(store.MaxEntityBytes + 1), "the entity is 1048573 bytes, over the 1048572"},
		{"indexed string at the limit", entity(k, "s", str(strings.Repeat("x", 1500), true)), ""},
		{"indexed string over", entity(k, "s", str(strings.Repeat("x", 1501), true)), "indexed string property s is 1501 bytes"},
		{"indexed string over, multibyte", entity(k, "s", str(strings.Repeat("é", 751), true)), "is 1502 bytes"},
		{"indexed string in an array", entity(k, "a", array(str("ok", true), str(strings.Repeat("x", 1501), true))), "indexed string property a"},
		{"indexed blob over", entity(k, "b", blob(1501, true)), "indexed blob property b"},
		{"unindexed string at the limit", entity(k, "s", str(strings.Repeat("x", store.MaxValueBytes), false)), ""},
		{"unindexed string over", entity(k, "s", str(strings.Repeat("x", store.MaxValueBytes+1), false)), "string property s is 1000001 bytes"},
		{"unindexed blob over", entity(k, "b", blob(store.MaxValueBytes+1, false)), "blob property b is 1000001 bytes"},
		{"string not UTF-8", entity(k, "s", str("a\xffb", false)), "not valid UTF-8"},
		{"key name at the limit", entity(nameKey("", "K", long)), ""},
		{"key name over", entity(nameKey("", "K", long+"k")), "K key name \"kkkk"},
		{"key name reserved", entity(nameKey("", "K", "__x__")), `K key name "__x__" is reserved`},
		{"key name not UTF-8", entity(nameKey("", "K", "\xff")), "not valid UTF-8"},
		{"kind reserved", entity(nameKey("", "__K__", "a")), `kind "__K__" is reserved`},
		{"kind over", entity(nameKey("", long+"K", "a")), `kind "kkkk`},
		{"key over 6 KiB", entity(nameKey("", "A", long, "B", long, "C", long, "D", long, "E", long)), "the key is 7531 bytes, over the 6144"},
		{"namespace ok", entity(nameKey("km-prod_1.x", "K", "a")), ""},
		{"namespace bad character", entity(nameKey("a b", "K", "a")), `namespace "a b"`},
		{"namespace too long", entity(nameKey(strings.Repeat("n", 101), "K", "a")), "namespace"},
		{"namespace reserved", entity(nameKey("__ns__", "K", "a")), "reserved"},
		{"property name reserved", entity(k, "__p__", integer(1, true)), `property name "__p__" is reserved`},
		{"property name empty", entity(k, "", integer(1, true)), "without a name"},
		{"property name over 500 characters", entity(k, strings.Repeat("p", 501), integer(1, false)), "property name"},
		{"array in an array", entity(k, "a", array(array(integer(1, false)))), "an array in an array"},
		{"index entries over", entity(k, "a", array(many...)), "20002 index entries, over the 20000"},
		{"index entries unindexed", entity(k, "a", array(func() []*pb.Value {
			vs := make([]*pb.Value, len(many))
			for i := range vs {
				vs[i] = integer(int64(i), false)
			}
			return vs
		}()...)), ""},
		{"nested 20 deep", entity(k, "e", &pb.Value{ValueType: &pb.Value_EntityValue{EntityValue: nested.Properties["e"].GetEntityValue()}}), ""},
		{"nested 21 deep", entity(k, "e", &pb.Value{ValueType: &pb.Value_EntityValue{EntityValue: nested}}), "nested 21 deep"},
	} {
		err := store.CheckEntity(c.entity)
		checkLimitErr(t, c.name, err, c.err)
	}
}

func TestCheckEntityKeySize(t *testing.T) {
	long := strings.Repeat("k", store.MaxKeyNameBytes)
	k := nameKey("", "A", long, "B", long, "C", long, "D", long, "E", long)
	want := 16 + 5*(2+1501)
	if got := store.KeySize(k); got != want {
		t.Fatalf("KeySize = %d, want %d", got, want)
	}
	checkLimitErr(t, "key over 6 KiB", store.CheckKey(k), fmt.Sprintf("the key is %d bytes, over the %d bytes", want, store.MaxKeyBytes))
}

func TestCheckCommit(t *testing.T) {
	small := func(i int) *pb.Mutation {
		return upsert(entity(nameKey("", "K", fmt.Sprint("e", i)), "v", integer(int64(i), false)))
	}
	mutations := func(n int) []*pb.Mutation {
		ms := make([]*pb.Mutation, n)
		for i := range ms {
			ms[i] = small(i)
		}
		return ms
	}
	big := func(n int) []*pb.Mutation { // n entities of ~1 MB
		ms := make([]*pb.Mutation, n)
		for i := range ms {
			ms[i] = upsert(entity(nameKey("", "K", fmt.Sprint("b", i)), "s", str(strings.Repeat("x", store.MaxValueBytes), false)))
		}
		return ms
	}
	dup := []*pb.Mutation{small(1), small(1)}
	del := &pb.Mutation{Operation: &pb.Mutation_Delete{Delete: nameKey("", "K", "__x__")}}
	child := func(i int) *pb.Mutation { // one entity group: children of one root
		return upsert(entity(nameKey("", "Root", "r", "K", fmt.Sprint(i)), "v", integer(1, false)))
	}
	children := make([]*pb.Mutation, 30)
	for i := range children {
		children[i] = child(i)
	}
	for _, c := range []struct {
		name string
		req  *pb.CommitRequest
		err  string
	}{
		{"500 mutations", commit(false, mutations(500)...), ""},
		{"501 mutations", commit(false, mutations(501)...), "a commit of 501 mutations, over the 500"},
		{"10 entities of 1 MB", commit(false, big(10)...), ""},
		{"11 entities of 1 MB", commit(false, big(11)...), "over the 10485760 bytes (10 MiB)"},
		{"11 entities of 1 MB in a transaction", commit(true, big(11)...), "over the 10485760 bytes"},
		{"a bad entity among good ones", commit(false, small(1), upsert(entity(nameKey("", "K", "x"), "s", str(strings.Repeat("x", 2000), true)))), `K "x": indexed string property s`},
		{"a key twice, not in a transaction", commit(false, dup...), `K "e1" is written twice`},
		{"a key twice in a transaction", commit(true, dup...), ""},
		{"deleting a reserved key", commit(false, del), "reserved"},
		{"25 entity groups in a transaction", commit(true, mutations(25)...), ""},
		{"26 entity groups in a transaction", commit(true, mutations(26)...), "a transaction writing 26 entity groups, over the 25"},
		{"26 entity groups, not in a transaction", commit(false, mutations(26)...), ""},
		{"30 entities of one group in a transaction", commit(true, children...), ""},
	} {
		checkLimitErr(t, c.name, store.CheckCommit(c.req), c.err)
	}
}

// checkLimitErr checks that err is nil when want is "", else a one-line
// ErrLimit with gRPC code InvalidArgument that contains want.
func checkLimitErr(t *testing.T, name string, err error, want string) {
	t.Helper()
	if err != nil {
		t.Logf("%s: %v", name, err)
	}
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: %v, want no error", name, err)
	case want == "":
	case err == nil:
		t.Errorf("%s: no error, want one with %q", name, want)
	case !errors.Is(err, store.ErrLimit) || status.Code(err) != codes.InvalidArgument:
		t.Errorf("%s: %v (code %v) is not an ErrLimit with code InvalidArgument", name, err, status.Code(err))
	case !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") || len(err.Error()) > 400:
		t.Errorf("%s: %q, want one short line with %q", name, err, want)
	}
}

// TestLimitsRefused: writes that Datastore would refuse (and the emulator
// takes) fail with ErrLimit before they are sent, naming the entity.
func TestLimitsRefused(t *testing.T) {
	e := newEnv(t)
	f := &faults{before: func(int) error { return nil }}
	s := e.open("", f.option())
	ctx := context.Background()

	// An exercise name no key can hold: refused before any commit.
	th := makeThetas("v1", 3, 1)
	th[1].Exercise = strings.Repeat("x", 2000)
	err := s.PutThetas(ctx, "v1", th)
	if !errors.Is(err, store.ErrLimit) || !strings.Contains(err.Error(), "ExerciseThetas key name") {
		t.Fatalf("PutThetas(a 2000-byte exercise name) = %v, want ErrLimit naming the key", err)
	}
	t.Log(err)
	if commits, _ := f.counts(); commits != 0 {
		t.Errorf("%d commits, want none", commits)
	}

	// A thetas entity over 1 MB (a difficulty table of 60,000 problem
	// types): its commit is refused, once, not retried, and nothing of it
	// is stored.
	th = makeThetas("v1", 10, 1)
	big := &th[9] // of the extended feature set
	for i := range 60000 {
		big.ProblemTypeDifficulty[fmt.Sprintf("problem_type_%06d", i)] = float64(i)
	}
	err = s.PutThetas(ctx, "v1", th)
	if !errors.Is(err, store.ErrLimit) || status.Code(err) != codes.InvalidArgument ||
		!strings.Contains(err.Error(), `ExerciseThetas "v1/exercise_0009": the entity is`) || strings.Contains(err.Error(), "giving up") {
		t.Fatalf("PutThetas(an entity over the limit) = %v, want ErrLimit naming it, not retried", err)
	}
	t.Log(err)
	if commits, _ := f.counts(); commits != 1 {
		t.Errorf("%d commits attempted, want 1 (not retried)", commits)
	}
	if got, err := s.Thetas(ctx, "v1"); err != nil || len(got) != 0 {
		t.Errorf("%d thetas stored (%v), want none: the refused commit must not reach Datastore", len(got), err)
	}
}

package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	pb "cloud.google.com/go/datastore/apiv1/datastorepb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// The limits of Cloud Datastore (Firestore in Datastore mode) that a Store
// checks before every Commit and Lookup it sends, because the emulator the
// tests run against does not enforce most of them
// (https://cloud.google.com/datastore/docs/concepts/limits and the API
// reference of google.datastore.v1). Where the two disagree the stricter
// value is used.
const (
	// MaxEntityBytes is the largest entity, in storage size
	// (EntitySize).
	MaxEntityBytes = 1_048_572
	// MaxValueBytes is the longest unindexed string or blob value (the API
	// reference's 1,000,000; the limits page allows an unindexed property
	// 1,048,487 bytes).
	MaxValueBytes = 1_000_000
	// MaxIndexedBytes is the longest indexed string or blob value, in
	// UTF-8 bytes.
	MaxIndexedBytes = 1_500
	// MaxKeyNameBytes is the longest kind or key name, in UTF-8 bytes.
	MaxKeyNameBytes = 1_500
	// MaxKeyBytes is the largest key, in storage size (KeySize).
	MaxKeyBytes = 6 * 1024
	// MaxPropertyNameBytes and MaxPropertyNameChars bound a property name
	// (the API reference says 1,500 bytes, the REST reference 500
	// characters).
	MaxPropertyNameBytes = 1_500
	MaxPropertyNameChars = 500
	// MaxNamespaceBytes is the longest namespace, of [A-Za-z0-9._-].
	MaxNamespaceBytes = 100
	// MaxRequestBytes is the largest API request, a transaction's commit
	// included (10 MiB), as serialized.
	MaxRequestBytes = 10 << 20
	// MaxIndexEntries is the most index entries an entity may have; each
	// indexed value is counted as two (ascending and descending).
	MaxIndexEntries = 20_000
	// MaxDepth is the deepest nesting of entity values.
	MaxDepth = 20
	// MaxLookupKeys is the most keys one Lookup may ask for.
	MaxLookupKeys = 1_000
	// MaxTransactionGroups is the most entity groups (root keys) one
	// transaction may write. Only legacy Cloud Datastore enforces it;
	// Firestore in Datastore mode, which every database now is, does not.
	// It is checked anyway: the Store's transactions write at most 3.
	MaxTransactionGroups = 25
)

// ErrLimit is wrapped by the errors of writes that a limit of Cloud
// Datastore would refuse. Such a write is refused before it is sent, with
// gRPC code InvalidArgument (as the service would), and not retried.
var ErrLimit = errors.New("over a Cloud Datastore limit")

// limitError is an ErrLimit with its message, the one line that says
// which entity broke which limit.
type limitError struct{ msg string }

func (e *limitError) Error() string              { return "datastore limits: " + e.msg }
func (e *limitError) Is(target error) bool       { return target == ErrLimit }
func (e *limitError) GRPCStatus() *status.Status { return status.New(codes.InvalidArgument, e.Error()) }

func limitf(format string, args ...any) error { return &limitError{msg: fmt.Sprintf(format, args...)} }

// checkLimits is the gRPC client interceptor Open installs: every Commit
// and Lookup the client sends, transactions' included, is checked first.
func checkLimits(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	var err error
	switch r := req.(type) {
	case *pb.CommitRequest:
		err = CheckCommit(r)
	case *pb.LookupRequest:
		if len(r.Keys) > MaxLookupKeys {
			err = limitf("a lookup of %d keys, over the %d Datastore allows", len(r.Keys), MaxLookupKeys)
		}
	}
	if err != nil {
		return err
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// CheckCommit reports the first limit of Cloud Datastore the commit
// breaks: its size and number of mutations, the entity groups of a
// transaction, and each mutation's key and entity (CheckEntity).
func CheckCommit(req *pb.CommitRequest) error {
	if n := len(req.Mutations); n > MaxBatch {
		return limitf("a commit of %d mutations, over the %d Datastore allows", n, MaxBatch)
	}
	groups := map[string]bool{}
	keys := make(map[string]bool, len(req.Mutations))
	for _, m := range req.Mutations {
		var key *pb.Key
		switch op := m.Operation.(type) {
		case *pb.Mutation_Insert:
			key = op.Insert.GetKey()
			if err := CheckEntity(op.Insert); err != nil {
				return err
			}
		case *pb.Mutation_Update:
			key = op.Update.GetKey()
			if err := CheckEntity(op.Update); err != nil {
				return err
			}
		case *pb.Mutation_Upsert:
			key = op.Upsert.GetKey()
			if err := CheckEntity(op.Upsert); err != nil {
				return err
			}
		case *pb.Mutation_Delete:
			key = op.Delete
			if err := CheckKey(key); err != nil {
				return err
			}
		}
		if key == nil || len(key.Path) == 0 {
			continue
		}
		id := keyID(key)
		if req.Mode != pb.CommitRequest_TRANSACTIONAL && keys[id] {
			return limitf("%s is written twice in one non-transactional commit, which Datastore refuses", describeKey(key))
		}
		keys[id] = true
		root := &pb.Key{PartitionId: key.PartitionId, Path: key.Path[:1]}
		groups[keyID(root)] = true
	}
	if req.Mode == pb.CommitRequest_TRANSACTIONAL && len(groups) > MaxTransactionGroups {
		return limitf("a transaction writing %d entity groups, over the %d (legacy) Datastore allows", len(groups), MaxTransactionGroups)
	}
	if n := proto.Size(req); n > MaxRequestBytes {
		return limitf("a commit of %d mutations and %d bytes, over the %d bytes (10 MiB) a Datastore request may have",
			len(req.Mutations), n, MaxRequestBytes)
	}
	return nil
}

// CheckEntity reports the first limit of Cloud Datastore the entity
// breaks: its key (CheckKey), its size (EntitySize, or its serialized size
// if larger), and each property's name, value sizes, nesting and index
// entries.
func CheckEntity(e *pb.Entity) error {
	if err := CheckKey(e.GetKey()); err != nil {
		return err
	}
	what := describeKey(e.GetKey())
	entries := 0
	if err := checkProperties(what, e, 0, &entries); err != nil {
		return err
	}
	if entries > MaxIndexEntries {
		return limitf("%s: %d index entries, over the %d Datastore allows an entity", what, entries, MaxIndexEntries)
	}
	size := EntitySize(e)
	if wire := proto.Size(e); wire > size {
		size = wire
	}
	if size > MaxEntityBytes {
		return limitf("%s: the entity is %d bytes, over the %d bytes Datastore allows an entity", what, size, MaxEntityBytes)
	}
	return nil
}

func checkProperties(what string, e *pb.Entity, depth int, entries *int) error {
	if depth > MaxDepth {
		return limitf("%s: entity values nested %d deep, over the %d Datastore allows", what, depth, MaxDepth)
	}
	for name, v := range e.Properties {
		switch {
		case name == "":
			return limitf("%s: a property without a name", what)
		case !utf8.ValidString(name):
			return limitf("%s: property name %s is not valid UTF-8", what, short(name))
		case len(name) > MaxPropertyNameBytes || utf8.RuneCountInString(name) > MaxPropertyNameChars:
			return limitf("%s: property name %s is %d characters (%d bytes), over the %d characters (%d bytes) Datastore allows",
				what, short(name), utf8.RuneCountInString(name), len(name), MaxPropertyNameChars, MaxPropertyNameBytes)
		case reserved(name):
			return limitf("%s: property name %q is reserved by Datastore (__*__)", what, name)
		}
		if err := checkValue(what, name, v, depth, entries); err != nil {
			return err
		}
		if v.GetArrayValue() == nil && !v.ExcludeFromIndexes { // an array's values are counted each
			*entries += 2
		}
	}
	return nil
}

// checkValue checks one value of property name (an array's elements each).
func checkValue(what, name string, v *pb.Value, depth int, entries *int) error {
	switch t := v.ValueType.(type) {
	case *pb.Value_StringValue:
		if !utf8.ValidString(t.StringValue) {
			return limitf("%s: property %s holds a string that is not valid UTF-8", what, name)
		}
		return checkBytes(what, name, len(t.StringValue), v.ExcludeFromIndexes, "string")
	case *pb.Value_BlobValue:
		return checkBytes(what, name, len(t.BlobValue), v.ExcludeFromIndexes, "blob")
	case *pb.Value_KeyValue:
		return CheckKey(t.KeyValue)
	case *pb.Value_EntityValue:
		return checkProperties(what, t.EntityValue, depth+1, entries)
	case *pb.Value_ArrayValue:
		for _, el := range t.ArrayValue.GetValues() {
			if el.GetArrayValue() != nil {
				return limitf("%s: property %s is an array in an array, which Datastore refuses", what, name)
			}
			if err := checkValue(what, name, el, depth, entries); err != nil {
				return err
			}
			if !el.ExcludeFromIndexes {
				*entries += 2
			}
		}
	}
	return nil
}

func checkBytes(what, name string, n int, unindexed bool, kind string) error {
	switch {
	case !unindexed && n > MaxIndexedBytes:
		return limitf("%s: indexed %s property %s is %d bytes, over the %d bytes Datastore indexes", what, kind, name, n, MaxIndexedBytes)
	case n > MaxValueBytes:
		return limitf("%s: %s property %s is %d bytes, over the %d bytes Datastore allows a value", what, kind, name, n, MaxValueBytes)
	}
	return nil
}

// CheckKey reports the first limit of Cloud Datastore the key breaks: its
// namespace, each kind and name (at most MaxKeyNameBytes of UTF-8, not
// __reserved__) and its size (KeySize).
func CheckKey(k *pb.Key) error {
	if k == nil {
		return nil
	}
	if ns := k.PartitionId.GetNamespaceId(); ns != "" {
		switch {
		case len(ns) > MaxNamespaceBytes || strings.Trim(ns, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != "":
			return limitf("%s: Datastore allows a namespace of 1-%d characters of A-Z, a-z, 0-9, '.', '-' and '_'",
				describeKey(k), MaxNamespaceBytes)
		case reserved(ns):
			return limitf("%s: namespace %q is reserved by Datastore (__*__)", describeKey(k), ns)
		}
	}
	for _, el := range k.Path {
		if err := checkName("kind", el.Kind); err != nil {
			return err
		}
		if name, ok := el.IdType.(*pb.Key_PathElement_Name); ok {
			if err := checkName(el.Kind+" key name", name.Name); err != nil {
				return err
			}
		}
	}
	if n := KeySize(k); n > MaxKeyBytes {
		return limitf("%s: the key is %d bytes, over the %d bytes Datastore allows a key", describeKey(k), n, MaxKeyBytes)
	}
	return nil
}

// checkName checks a kind or a key name.
func checkName(what, name string) error {
	switch {
	case name == "":
		return limitf("an empty %s", what)
	case !utf8.ValidString(name):
		return limitf("%s %s is not valid UTF-8", what, short(name))
	case len(name) > MaxKeyNameBytes:
		return limitf("%s %s is %d bytes, over the %d bytes Datastore allows", what, short(name), len(name), MaxKeyNameBytes)
	case reserved(name):
		return limitf("%s %q is reserved by Datastore (__*__)", what, name)
	}
	return nil
}

// CheckKeyName reports whether Datastore would take name as the key name
// of an entity of kind: what the Store checks of the names it builds
// before it writes anything.
func CheckKeyName(kind, name string) error { return checkName(kind+" key name", name) }

func reserved(s string) bool {
	return len(s) >= 4 && strings.HasPrefix(s, "__") && strings.HasSuffix(s, "__")
}

// stringSize is Datastore's storage size of a string: its UTF-8 bytes + 1.
func stringSize(s string) int { return len(s) + 1 }

// KeySize is a key's storage size as Datastore documents it
// (https://cloud.google.com/datastore/docs/concepts/storage-size): the
// namespace's string size (none for the default namespace), each path
// element's kind and name string sizes (8 bytes for an integer id), and 16.
func KeySize(k *pb.Key) int {
	if k == nil {
		return 0
	}
	n := 16
	if ns := k.PartitionId.GetNamespaceId(); ns != "" {
		n += stringSize(ns)
	}
	for _, el := range k.Path {
		n += stringSize(el.Kind)
		if name, ok := el.IdType.(*pb.Key_PathElement_Name); ok {
			n += stringSize(name.Name)
		} else {
			n += 8
		}
	}
	return n
}

// EntitySize is an entity's storage size as Datastore documents it: its
// key's size, each property's name string size and value size, and 32.
func EntitySize(e *pb.Entity) int {
	n := KeySize(e.GetKey()) + 32
	for name, v := range e.GetProperties() {
		n += stringSize(name) + valueSize(v)
	}
	return n
}

// valueSize is a value's storage size: an array's is the sum of its
// values', an embedded entity's its EntitySize.
func valueSize(v *pb.Value) int {
	switch t := v.ValueType.(type) {
	case *pb.Value_StringValue:
		return stringSize(t.StringValue)
	case *pb.Value_BlobValue:
		return len(t.BlobValue)
	case *pb.Value_KeyValue:
		return KeySize(t.KeyValue)
	case *pb.Value_EntityValue:
		return EntitySize(t.EntityValue)
	case *pb.Value_ArrayValue:
		n := 0
		for _, el := range t.ArrayValue.GetValues() {
			n += valueSize(el)
		}
		return n
	case *pb.Value_GeoPointValue:
		return 16
	case *pb.Value_BooleanValue, *pb.Value_NullValue:
		return 1
	}
	return 8 // integer, double, timestamp
}

// keyID identifies a key within a commit.
func keyID(k *pb.Key) string {
	var b strings.Builder
	b.WriteString(k.PartitionId.GetNamespaceId())
	for _, el := range k.Path {
		fmt.Fprintf(&b, "\x00%s\x00", el.Kind)
		switch id := el.IdType.(type) {
		case *pb.Key_PathElement_Name:
			b.WriteString("n" + id.Name)
		case *pb.Key_PathElement_Id:
			fmt.Fprintf(&b, "i%d", id.Id)
		}
	}
	return b.String()
}

// describeKey names a key in an error: kind "name" (or kind id) per path
// element, long names shortened, and the namespace if any.
func describeKey(k *pb.Key) string {
	if k == nil || len(k.Path) == 0 {
		return "an entity without a key"
	}
	parts := make([]string, len(k.Path))
	for i, el := range k.Path {
		switch id := el.IdType.(type) {
		case *pb.Key_PathElement_Name:
			parts[i] = el.Kind + " " + short(id.Name)
		case *pb.Key_PathElement_Id:
			parts[i] = fmt.Sprintf("%s %d", el.Kind, id.Id)
		default:
			parts[i] = el.Kind + " (incomplete)"
		}
	}
	s := strings.Join(parts, " > ")
	if ns := k.PartitionId.GetNamespaceId(); ns != "" {
		s += " in namespace " + short(ns)
	}
	return s
}

// short quotes s, cut to its first 40 bytes if longer than 60.
func short(s string) string {
	if len(s) <= 60 {
		return fmt.Sprintf("%q", s)
	}
	cut := 40
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}

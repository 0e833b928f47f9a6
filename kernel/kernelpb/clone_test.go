package kernelpb

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// fill sets every field of m to a non-zero value, recursively; in each
// oneof it sets the member numbered pick (modulo the oneof's size).
func fill(m protoreflect.Message, pick int) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
			if o.Fields().Get(pick%o.Fields().Len()) != f {
				continue
			}
		}
		switch {
		case f.IsMap():
			mp := m.Mutable(f).Map()
			for j := range 2 {
				mp.Set(protoreflect.ValueOfString(fmt.Sprint("k", j)).MapKey(), scalar(f.MapValue(), j))
			}
		case f.IsList():
			l := m.Mutable(f).List()
			for j := range 2 {
				if f.Kind() == protoreflect.MessageKind {
					fill(l.AppendMutable().Message(), pick)
				} else {
					l.Append(scalar(f, j))
				}
			}
		case f.Kind() == protoreflect.MessageKind:
			fill(m.Mutable(f).Message(), pick)
		default:
			m.Set(f, scalar(f, 1))
		}
	}
}

func scalar(f protoreflect.FieldDescriptor, j int) protoreflect.Value {
	switch f.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("%s-%d", f.Name(), j))
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(int64(40 + j))
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(int32(30 + j))
	case protoreflect.Uint32Kind:
		return protoreflect.ValueOfUint32(uint32(20 + j))
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.Uint64Kind:
		return protoreflect.ValueOfUint64(uint64(60 + j))
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(1 + j))
	}
	panic(fmt.Sprintf("clone_test: fill does not know field kind %v of %s; teach it", f.Kind(), f.FullName()))
}

func TestClonesCopyEveryField(t *testing.T) {
	for pick := range 2 { // both members of TaskInfo.runtime
		info := &TaskInfo{}
		fill(info.ProtoReflect(), pick)
		assertClone(t, info, CloneTaskInfo(info))
		assertClone(t, info.Resources[0], CloneResources(info.Resources)[0])
	}
	status := &TaskStatus{}
	fill(status.ProtoReflect(), 0)
	assertClone(t, status, CloneTaskStatus(status))
	if CloneTaskInfo(nil) != nil || CloneTaskStatus(nil) != nil || CloneResources(nil) != nil {
		t.Error("a clone of nil is not nil")
	}
}

// assertClone checks that got equals want and shares nothing with it: after
// every field of want is filled again with other values, got is unchanged.
func assertClone(t *testing.T, want, got proto.Message) {
	t.Helper()
	if !proto.Equal(want, got) {
		t.Fatalf("clone differs from the original (a field not copied?):\n got  %v\n want %v", got, want)
	}
	before := proto.Clone(got)
	scramble(want.ProtoReflect())
	if !proto.Equal(before, got) {
		t.Fatalf("changing the original changed the clone: they share memory\n now %v\n was %v", got, before)
	}
}

// scramble changes, in place, every value in m: list elements and map
// values included, so that a clone sharing any of them would change too.
func scramble(m protoreflect.Message) {
	m.Range(func(f protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case f.IsList():
			l := v.List()
			for j := 0; j < l.Len(); j++ {
				if f.Kind() == protoreflect.MessageKind {
					scramble(l.Get(j).Message())
				} else {
					l.Set(j, scalar(f, 9))
				}
			}
		case f.IsMap():
			mp := v.Map()
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				mp.Set(k, scalar(f.MapValue(), 9))
				return true
			})
		case f.Kind() == protoreflect.MessageKind:
			scramble(v.Message())
		default:
			m.Set(f, scalar(f, 9))
		}
		return true
	})
}

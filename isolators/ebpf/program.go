package ebpf

import (
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// counters is the value the programs keep per task and direction: what the
// kernel stores for each (cgroup, attach type) the programs are attached to.
type counters struct {
	Bytes   uint64
	Packets uint64
}

// storageKey is the kernel's struct bpf_cgroup_storage_key: the cgroup's id
// (its directory's inode number) and the attach type.
type storageKey struct {
	CgroupID   uint64
	AttachType uint32
	Pad        uint32
}

// skbLenOffset is the offset of len in struct __sk_buff (its first field).
const skbLenOffset = 0

// storageSpec is one cgroup storage map shared by both programs. Its key
// holds the attach type, so ingress and egress of one cgroup have storages
// of their own; the kernel allocates one for each cgroup a program is
// attached to and frees it at detach, so the map needs no entries made or
// deleted per task (max_entries must be 0).
func storageSpec() *ebpf.MapSpec {
	return &ebpf.MapSpec{
		Name:      "pando_net",
		Type:      ebpf.CGroupStorage,
		KeySize:   16, // storageKey
		ValueSize: 16, // counters
	}
}

// countProgram is a cgroup skb program (ingress or egress) that adds each
// packet's length and one to the counters of the cgroup it is attached to,
// and always lets the packet through: written with the asm package, so that
// building Pando needs no clang. In C:
//
//	int count(struct __sk_buff *skb) {
//		struct counters *c = bpf_get_local_storage(&pando_net, 0);
//		__sync_fetch_and_add(&c->bytes, skb->len);
//		__sync_fetch_and_add(&c->packets, 1);
//		return 1;
//	}
//
// bpf_get_local_storage never returns NULL for cgroup storage: the
// verifier knows it, so no check is needed.
func countProgram(name string, attach ebpf.AttachType, storage *ebpf.Map) *ebpf.ProgramSpec {
	return &ebpf.ProgramSpec{
		Name:       name,
		Type:       ebpf.CGroupSKB,
		AttachType: attach,
		License:    "Apache-2.0",
		Instructions: asm.Instructions{
			asm.Mov.Reg(asm.R6, asm.R1), // r6 = skb
			asm.LoadMapPtr(asm.R1, storage.FD()),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnGetLocalStorage.Call(), // r0 = &counters
			asm.LoadMem(asm.R1, asm.R6, skbLenOffset, asm.Word),
			asm.AddAtomic.Mem(asm.R0, asm.R1, asm.DWord, 0), // bytes += skb->len
			asm.Mov.Imm(asm.R1, 1),
			asm.AddAtomic.Mem(asm.R0, asm.R1, asm.DWord, 8), // packets++
			asm.Mov.Imm(asm.R0, 1),                          // allow
			asm.Return(),
		},
	}
}

package cassandra

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// Token returns the Murmur3Partitioner token of a text partition key: the
// first 64 bits of MurmurHash3 x64_128 (seed 0) over the key's UTF-8 bytes,
// with Cassandra's quirks kept — tail bytes are sign-extended (Java bytes are
// signed) and math.MinInt64, which the ring excludes, becomes math.MaxInt64.
//
// With it, --shard can tell which index ids belong to its slice of the ring
// without asking Cassandra (an id in the index only may have no row to ask
// about). TestTokenMatchesCassandra checks it against Cassandra's token().
func Token(key string) int64 {
	const (
		c1 = 0x87c37b91114253d5
		c2 = 0x4cf5ad432745937f
	)
	data := []byte(key)
	n := len(data)
	var h1, h2 uint64
	nblocks := n / 16
	for i := range nblocks {
		k1 := binary.LittleEndian.Uint64(data[i*16:])
		k2 := binary.LittleEndian.Uint64(data[i*16+8:])

		k1 *= c1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= c2
		h1 ^= k1
		h1 = bits.RotateLeft64(h1, 27)
		h1 += h2
		h1 = h1*5 + 0x52dce729

		k2 *= c2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= c1
		h2 ^= k2
		h2 = bits.RotateLeft64(h2, 31)
		h2 += h1
		h2 = h2*5 + 0x38495ab5
	}
	tail := data[nblocks*16:]
	signed := func(i int) uint64 { return uint64(int64(int8(tail[i]))) }
	var k1, k2 uint64
	switch len(tail) & 15 {
	case 15:
		k2 ^= signed(14) << 48
		fallthrough
	case 14:
		k2 ^= signed(13) << 40
		fallthrough
	case 13:
		k2 ^= signed(12) << 32
		fallthrough
	case 12:
		k2 ^= signed(11) << 24
		fallthrough
	case 11:
		k2 ^= signed(10) << 16
		fallthrough
	case 10:
		k2 ^= signed(9) << 8
		fallthrough
	case 9:
		k2 ^= signed(8)
		k2 *= c2
		k2 = bits.RotateLeft64(k2, 33)
		k2 *= c1
		h2 ^= k2
		fallthrough
	case 8:
		k1 ^= signed(7) << 56
		fallthrough
	case 7:
		k1 ^= signed(6) << 48
		fallthrough
	case 6:
		k1 ^= signed(5) << 40
		fallthrough
	case 5:
		k1 ^= signed(4) << 32
		fallthrough
	case 4:
		k1 ^= signed(3) << 24
		fallthrough
	case 3:
		k1 ^= signed(2) << 16
		fallthrough
	case 2:
		k1 ^= signed(1) << 8
		fallthrough
	case 1:
		k1 ^= signed(0)
		k1 *= c1
		k1 = bits.RotateLeft64(k1, 31)
		k1 *= c2
		h1 ^= k1
	}
	h1 ^= uint64(n)
	h2 ^= uint64(n)
	h1 += h2
	h2 += h1
	h1 = fmix64(h1)
	h2 = fmix64(h2)
	h1 += h2
	t := int64(h1)
	if t == math.MinInt64 {
		return math.MaxInt64
	}
	return t
}

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

package eval

// Rollout bucketing. A context's bucket for a flag is
//
//	FNV-1a-64(flagKey + "." + salt + "." + value) % 100000
//
// where value is the targeting key, or the rollout's bucketBy attribute
// (a string as is; a number formatted by strconv.FormatFloat(f, 'g', -1, 64),
// so 42 is "42"). The bucket, 0..99999, falls into the rollout slice whose
// cumulative weight first exceeds it. docs/rollout-hashing.md has the
// definition and test vectors; hash_test.go checks them.

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// Bucket returns the rollout bucket (0..99999) of value for a flag key and
// salt. It does not allocate.
func Bucket(flagKey, salt, value string) int {
	h := fnvString(fnvOffset64, flagKey)
	h = fnvByte(h, '.')
	h = fnvString(h, salt)
	h = fnvByte(h, '.')
	h = fnvString(h, value)
	return int(h % 100000)
}

func bucketBytes(flagKey, salt string, value []byte) int {
	h := fnvString(fnvOffset64, flagKey)
	h = fnvByte(h, '.')
	h = fnvString(h, salt)
	h = fnvByte(h, '.')
	for _, c := range value {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return int(h % 100000)
}

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime64
	}
	return h
}

func fnvByte(h uint64, c byte) uint64 {
	h ^= uint64(c)
	return h * fnvPrime64
}

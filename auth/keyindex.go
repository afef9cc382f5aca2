package auth

import (
	"github.com/golang-jwt/jwt/v5"
)

// keyIndex finds the keys that may verify a token, by algorithm and key id. It is built once
// (at startup, or per JWKS fetch) and read without locks; lookups do not allocate.
type keyIndex struct {
	// all: every key allowing an algorithm, for tokens without a kid.
	all map[string]any
	// byKid: the keys with that kid allowing the algorithm, plus the keys without an id.
	byKid map[kidAlg]any
	// unnamed: the keys without an id allowing an algorithm, for tokens with an unknown kid.
	unnamed map[string]any
	kids    map[string]struct{}
	size    int
}

type kidAlg struct{ kid, alg string }

func newKeyIndex(keys []PublicKey) *keyIndex {
	all := map[string][]jwt.VerificationKey{}
	unnamed := map[string][]jwt.VerificationKey{}
	named := map[kidAlg][]jwt.VerificationKey{}
	idx := &keyIndex{kids: map[string]struct{}{}, size: len(keys)}
	for _, k := range keys {
		for _, alg := range k.Algorithms() {
			all[alg] = append(all[alg], k.Key)
			if k.ID == "" {
				unnamed[alg] = append(unnamed[alg], k.Key)
			} else {
				named[kidAlg{k.ID, alg}] = append(named[kidAlg{k.ID, alg}], k.Key)
			}
		}
		if k.ID != "" {
			idx.kids[k.ID] = struct{}{}
		}
	}
	for ka, ks := range named {
		named[ka] = append(ks, unnamed[ka.alg]...)
	}
	idx.all = asKeySets(all)
	idx.unnamed = asKeySets(unnamed)
	idx.byKid = make(map[kidAlg]any, len(named))
	for ka, ks := range named {
		idx.byKid[ka] = jwt.VerificationKeySet{Keys: ks}
	}
	return idx
}

func asKeySets(m map[string][]jwt.VerificationKey) map[string]any {
	out := make(map[string]any, len(m))
	for alg, ks := range m {
		out[alg] = jwt.VerificationKeySet{Keys: ks}
	}
	return out
}

// find returns the key set (a jwt.VerificationKeySet) for a token's alg and kid, or nil.
func (x *keyIndex) find(alg, kid string) any {
	if x == nil {
		return nil
	}
	if kid == "" {
		return x.all[alg]
	}
	if ks, ok := x.byKid[kidAlg{kid, alg}]; ok {
		return ks
	}
	return x.unnamed[alg]
}

// hasKid reports whether a key of the index carries this id.
func (x *keyIndex) hasKid(kid string) bool {
	if x == nil {
		return false
	}
	_, ok := x.kids[kid]
	return ok
}

// merge joins two key sets returned by find (either may be nil).
func merge(a, b any) any {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	ka, kb := a.(jwt.VerificationKeySet).Keys, b.(jwt.VerificationKeySet).Keys
	keys := make([]jwt.VerificationKey, 0, len(ka)+len(kb))
	return jwt.VerificationKeySet{Keys: append(append(keys, ka...), kb...)}
}

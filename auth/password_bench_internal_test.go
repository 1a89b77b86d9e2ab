package auth

import (
	"testing"
)

// BenchmarkPasswordHashes compares one login's comparison at the default
// bcrypt cost with one at DefaultArgon2Params: the two should cost about
// the same (README, "Passwords", records the figures).
//
//	go test ./auth -run '^$' -bench PasswordHashes -benchtime 20x -count 3
func BenchmarkPasswordHashes(b *testing.B) {
	for _, h := range []hasher{
		{algorithm: HashBcrypt, cost: DefaultBcryptCost},
		{algorithm: HashArgon2id, argon2: DefaultArgon2Params, maxMemory: DefaultArgon2Params.Memory},
	} {
		b.Run(h.algorithm, func(b *testing.B) {
			hash, err := h.hash("correct horse battery")
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if !h.matches(hash, "correct horse battery") {
					b.Fatal("no match")
				}
			}
		})
	}
}

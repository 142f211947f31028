package auditproof

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// sealVersion starts every seal's canonical encoding.
const sealVersion = "spendsense-seal-v1"

// Seal is one signed seal: the Merkle root of the rows it covers (in
// audit id order), bound to the seal before it by that seal's hash, so a
// seal cannot be removed, replayed or reordered without breaking the next.
type Seal struct {
	SealID     int64     `json:"seal_id"` // 1, 2, 3, … with no gaps
	SealedAt   time.Time `json:"sealed_at"`
	RowCount   int64     `json:"row_count"`
	FirstID    string    `json:"first_audit_id"`
	LastID     string    `json:"last_audit_id"`
	MerkleRoot string    `json:"merkle_root"`    // hex
	PrevHash   string    `json:"prev_seal_hash"` // hex; "" for seal 1
	SealHash   string    `json:"seal_hash"`      // hex SHA-256 of Canonical
	PublicKey  string    `json:"public_key"`     // base64 Ed25519 key that signed (informative; verify uses the auditor's)
	Signature  string    `json:"signature"`      // base64 Ed25519 signature of Canonical
}

// Canonical is the byte string a seal's hash and signature cover.
func (s Seal) Canonical() []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	writeString(&b, sealVersion)
	b.WriteByte(',')
	b.WriteString(strconv.FormatInt(s.SealID, 10))
	b.WriteByte(',')
	writeString(&b, s.SealedAt.UTC().Format(TimeLayout))
	b.WriteByte(',')
	b.WriteString(strconv.FormatInt(s.RowCount, 10))
	for _, f := range []string{s.FirstID, s.LastID, s.MerkleRoot, s.PrevHash} {
		b.WriteByte(',')
		writeString(&b, f)
	}
	b.WriteByte(']')
	return b.Bytes()
}

// Sign fills in the seal's hash, public key and signature.
func (s *Seal) Sign(key ed25519.PrivateKey) {
	c := s.Canonical()
	sum := sha256.Sum256(c)
	s.SealHash = hex.EncodeToString(sum[:])
	s.PublicKey = base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
	s.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(key, c))
}

// MerkleRoot is the RFC 6962 Merkle tree hash over the rows' hashes in the
// order given: a leaf is SHA-256(0x00 ‖ row hash), a node SHA-256(0x01 ‖
// left ‖ right), the left subtree the largest power of two below n.
func MerkleRoot(rowHashes []string) (string, error) {
	if len(rowHashes) == 0 {
		return "", errors.New("no rows to seal")
	}
	level := make([][32]byte, len(rowHashes))
	for i, h := range rowHashes {
		raw, err := hex.DecodeString(h)
		if err != nil || len(raw) != sha256.Size {
			return "", fmt.Errorf("row hash %q is not a hex SHA-256", h)
		}
		level[i] = sha256.Sum256(append([]byte{0}, raw...))
	}
	root := merkle(level)
	return hex.EncodeToString(root[:]), nil
}

func merkle(leaves [][32]byte) [32]byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := merkle(leaves[:k]), merkle(leaves[k:])
	buf := make([]byte, 0, 65)
	buf = append(buf, 1)
	buf = append(buf, l[:]...)
	buf = append(buf, r[:]...)
	return sha256.Sum256(buf)
}

// ParsePrivateKey reads SPENDSENSE_AUDIT_SIGNING_KEY: the base64 (standard
// or URL alphabet, padded or not) of a 32-byte Ed25519 seed or of a 64-byte
// private key.
func ParsePrivateKey(s string) (ed25519.PrivateKey, error) {
	raw, err := decodeBase64(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("audit signing key is not base64")
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		k := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !bytes.Equal(k, raw) {
			return nil, errors.New("audit signing key: its public half does not match its seed")
		}
		return k, nil
	}
	return nil, fmt.Errorf("audit signing key has %d bytes; want a 32-byte Ed25519 seed or a 64-byte private key", len(raw))
}

// ParsePublicKey reads a base64 Ed25519 public key (`spendsense audit pubkey`).
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	raw, err := decodeBase64(strings.TrimSpace(s))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("public key must be the base64 of 32 bytes (spendsense audit pubkey prints it)")
	}
	return ed25519.PublicKey(raw), nil
}

// PublicKeyText is the base64 of key's public half.
func PublicKeyText(key ed25519.PrivateKey) string {
	return base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))
}

func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

package httpapi

import (
	"encoding/base64"
	"encoding/binary"
	"strings"

	"github.com/ingest-portal/ingest"
	"github.com/ingest-portal/ingest/upload"
)

// parseContentDigest reads an RFC 9530 Content-Digest: a dictionary of algorithm=:base64:
// members. sha-256 and crc32c are understood; other algorithms are ignored, as the RFC says.
func parseContentDigest(header string) (upload.Digest, error) {
	var d upload.Digest
	if strings.TrimSpace(header) == "" {
		return d, nil
	}
	for _, member := range strings.Split(header, ",") {
		alg, value, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok || len(value) < 2 || value[0] != ':' || value[len(value)-1] != ':' {
			return d, ingest.Errorf(ingest.EValidation, "Content-Digest: want algorithm=:base64:, as in sha-256=:…:")
		}
		raw, err := base64.StdEncoding.DecodeString(value[1 : len(value)-1])
		if err != nil {
			return d, ingest.Errorf(ingest.EValidation, "Content-Digest: the %s value is not base64", alg)
		}
		switch strings.ToLower(alg) {
		case "sha-256":
			if len(raw) != 32 {
				return d, ingest.Errorf(ingest.EValidation, "Content-Digest: a sha-256 digest has 32 bytes, not %d", len(raw))
			}
			d.SHA256 = raw
		case "crc32c":
			if len(raw) != 4 {
				return d, ingest.Errorf(ingest.EValidation, "Content-Digest: a crc32c digest has 4 bytes, not %d", len(raw))
			}
			sum := binary.BigEndian.Uint32(raw)
			d.CRC32C = &sum
		}
	}
	return d, nil
}

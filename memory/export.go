package memory

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"

	"github.com/mirroros/mirror/store"
)

// Export record types: the "type" field of each line.
const (
	ExportEvidence = "evidence"
	ExportClaim    = "claim"
	ExportCanon    = "canon"
)

type exportedEvidence struct {
	Type string `json:"type"`
	Evidence
	ContentBase64 string `json:"content_base64,omitempty"`
	Redacted      bool   `json:"redacted,omitempty"`
}

type exportedClaim struct {
	Type string `json:"type"`
	Claim
}

type exportedCanon struct {
	Type string `json:"type"`
	CanonVersion
}

// Export writes all of memory as JSON Lines, from one consistent snapshot:
// every piece of evidence in the order added ("type":"evidence", with its
// content in content_base64, or "redacted":true and its redaction), then
// every claim with its provenance ("type":"claim"), then every canon
// version with its added and removed claim ids ("type":"canon"; the member
// list of version v is the fold of the changes of versions 1 to v, and the
// latest version also lists its members).
func (m *Memory) Export(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	err := m.st.View(ctx, func(tx store.ReadTx) error {
		err := tx.EvidenceList(ctx, store.EvidenceFilter{Content: true}, func(se store.Evidence) error {
			e := evidenceOf(se)
			rec := exportedEvidence{Type: ExportEvidence, Evidence: e, Redacted: e.Redacted()}
			if !rec.Redacted {
				rec.ContentBase64 = base64.StdEncoding.EncodeToString(se.Content)
			}
			return enc.Encode(rec)
		})
		if err != nil {
			return err
		}
		var after int64
		for {
			cs, err := tx.Claims(ctx, store.ClaimFilter{AfterSeq: after, Limit: 1000})
			if err != nil {
				return err
			}
			for _, c := range cs {
				if err := enc.Encode(exportedClaim{Type: ExportClaim, Claim: claimOf(c)}); err != nil {
					return err
				}
				after = c.Seq
			}
			if len(cs) < 1000 {
				break
			}
		}
		var versions []store.CanonVersion
		if err := tx.CanonVersions(ctx, func(v store.CanonVersion) error {
			versions = append(versions, v)
			return nil
		}); err != nil {
			return err
		}
		for i, v := range versions {
			rec := exportedCanon{Type: ExportCanon, CanonVersion: canonVersionOf(v)}
			if i == len(versions)-1 {
				if rec.Members, err = tx.CanonMembers(ctx, v.Version); err != nil {
					return err
				}
			}
			if err := enc.Encode(rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}

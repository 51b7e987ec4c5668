// Package memory is the memory plane: what the kernel knows about the
// person or team it serves, kept so that it can be trusted, corrected and
// audited.
//
// # Evidence
//
// Evidence is raw material: a text, a file, a conversation turn, a run's
// output, up to MaxEvidenceSize bytes. It is content-addressed — its id is
// "sha256:" and the hex SHA-256 of its bytes — and immutable: adding the
// same bytes again returns the stored evidence and records nothing. It
// carries who added it (the actor, such as "lease/lse_…"), when it was
// observed, where it came from and its media type. Evidence is never
// edited or deleted. A redaction is a tombstone (who, why, when) that
// erases the content, and its tokens from the search index, while the id,
// the metadata and the claims citing it stay.
//
// # Claims and the bi-temporal model
//
// A claim is an atomic statement resting on evidence: one or more spans,
// byte ranges [start, end) of evidence content. It has a confidence in
// (0, 1], an optional subject and a kind (fact, preference, identity,
// event, other), and two time axes:
//
//   - world time, ValidAt and InvalidAt: when the statement was true.
//     ValidAt defaults to when its earliest evidence was observed;
//     InvalidAt is zero while it is still true.
//   - system time, CreatedAt and ExpiredAt: when the system believed it.
//     CreatedAt is when it was added; ExpiredAt is zero until it is
//     demoted.
//
// BelievedAt(t) answers "what did we believe at t" (CreatedAt <= t <
// ExpiredAt); TrueAt(t) answers "what held at t" (ValidAt <= t <
// InvalidAt). Both are also search filters (Query.AsOf, Query.ValidAt),
// and combined they answer "what did we believe at t1 about t2".
//
// A claim row holds one interval on each axis, as the system knows it
// now: when a demotion sets InvalidAt, a question about what was believed
// at t1 sees the InvalidAt known today, not the open interval believed at
// t1. History records when each change was made.
//
// A claim whose normalized statement (Normalize: lower case, white space
// collapsed, trailing punctuation removed) equals a live claim's does not
// duplicate it: its spans corroborate the live claim.
//
// # Canon
//
// The canon is the compiled set of promoted claims, the ones the kernel
// hands to models. A claim is promoted automatically when it rests on
// Options.Corroboration (default 2) independent pieces of evidence —
// distinct evidence ids, so the same evidence cited twice counts once — or
// on verification, by a person or a verifier model (Promote). Demotion
// (Demote, or a new claim that Contradicts it) invalidates and never
// deletes: it sets InvalidAt (default now; for a contradiction, the new
// claim's ValidAt) and ExpiredAt (now), links the contradicting claim, and
// takes the claim out of the canon. A demoted claim stays, with its
// history, and is never promoted again; the same statement can be added
// anew as a new claim.
//
// Every change to the canon compiles a new canon version, numbered from 1,
// whose hash is CanonHash of its members: "sha256:" and the hex SHA-256 of
// the concatenation, for each member in increasing byte order of claim
// id, of
//
//	claim id ‖ 0x20 ‖ claim hash ‖ 0x0A
//
// where the claim hash is ClaimHash: "sha256:" and the hex SHA-256 of
//
//	statement ‖ 0x00 ‖ subject ‖ 0x00 ‖ kind
//
// So a canon hash binds the exact text of every member, and the empty
// canon hashes the empty string
// (sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855).
// CanonDiff lists the claims added and removed between two versions.
//
// # The ledger
//
// Every write — evidence, redaction, claim (creation or corroboration),
// promotion, demotion, canon version — appends a ledger entry in the same
// transaction as the write (ledger.Commit), so that neither exists
// without the other. The entry kinds are memory.evidence, memory.redact,
// memory.claim, memory.promote, memory.demote and memory.canon. Bodies
// carry ids, hashes, offsets, times and reasons, never evidence content,
// statements or subjects: the ledger can never be redacted, so whatever
// may have to be erased is bound by its hash instead.
//
//	memory.evidence {"id","kind","size","media_type","text","observed_at"}
//	memory.redact   {"id","reason","at"}
//	memory.claim    {"op":"create","id","hash","kind","confidence","valid_at","invalid_at","created_at","spans":[{"evidence","start","end"}],"contradicts"}
//	memory.claim    {"op":"corroborate","id","confidence","spans":[…]}
//	memory.promote  {"id","reason","auto","evidence"}
//	memory.demote   {"id","reason","invalid_at","expired_at","contradicted_by"}
//	memory.canon    {"version","hash","count","added":[ids],"removed":[ids]}
//
// # Verify
//
// Verify replays the memory entries of the ledger and compares them with
// the store: every piece of evidence must hash to its id unless a
// recorded redaction erased it (reported as redacted, not tampered); every
// claim must match the hash, times, status, confidence and spans its
// entries recorded, and its spans must resolve to existing evidence within
// range; every canon version's hash, recomputed from its stored member
// list, must equal the hash in its memory.canon entry. Whatever does not
// match is named in the Report: table, record, and what is wrong.
//
// # Search and retrieval
//
// Search ranks claims (and optionally evidence text) with SQLite FTS5
// BM25 over English-stemmed words. User text is reduced to plain words
// (common function words dropped when others remain) before it reaches
// the index, so no input can produce a query syntax error. To keep a
// search within a few milliseconds at 100k claims, the SQLite store
// scores at most 1,000 matches with BM25: when the query's words match
// more, the claims matching its rarer words come first, ranked by BM25,
// followed by the newest claims matching all, then any, of its common
// words (scored 0). With an Embedder, claims
// are embedded as they are added and search fuses the BM25 and cosine
// rankings by reciprocal rank fusion (k = 60); without one, search is
// BM25 only. Retrieve returns canon claims with their citations for a
// model call and FormatPreamble renders them as a compact system-prompt
// block. IdentityClaims returns the canon's identity claims. ExtractClaims
// turns evidence into claims through an Extractor (a model).
package memory

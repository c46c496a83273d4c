// Identifiers of the image module: sha256 digests as store keys, OCI chain ids, short ids and random
// container ids.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bocker::image {

// True for "sha256:" followed by exactly 64 lowercase hex digits (the only digests used as keys).
bool is_sha256_digest(std::string_view digest) noexcept;

// The 64 hex digits of a sha256 digest. Throws bocker::Error(kInvalid) "invalid <what> digest "x": ..."
// for anything else (other algorithms, uppercase, wrong length, path characters).
std::string_view sha256_hex(std::string_view digest, std::string_view what = "content");

// OCI image spec chain ids: ChainID(L0) = DiffID(L0),
// ChainID(L0|...|Ln) = "sha256:" + hex(SHA256(ChainID(L0|...|Ln-1) + " " + DiffID(Ln))).
// chain_ids() returns one per layer; chain_id() the top one (empty input -> ""). Diff ids are validated.
std::vector<std::string> chain_ids(std::span<const std::string> diff_ids);
std::string chain_id(std::span<const std::string> diff_ids);

// The first 12 hex digits of an id ("sha256:" dropped): "sha256:4ff3ca91..." -> "4ff3ca91275d".
std::string short_id(std::string_view id);

// 64 lowercase hex digits from getrandom(2), for container and exec ids.
std::string random_id();

}  // namespace bocker::image

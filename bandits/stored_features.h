// Stored features: the one path that turns named catalog attributes
// ("user.age", "item.category"...) into the sparse context and action
// features a decision uses and logs. Decide and Recommend build through it;
// policies, OPE, replay and training then read the logged context through
// BuildDecisionInput (bandits/features.h), never the catalog again.
#ifndef RECBANDIT_BANDITS_STORED_FEATURES_H_
#define RECBANDIT_BANDITS_STORED_FEATURES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/repeated_field.h"
#include "proto/catalog.pb.h"
#include "proto/common.pb.h"

namespace recbandit::bandits {

inline constexpr int32_t kMaxStoredFeatures = 32;      // names per request
inline constexpr int32_t kMaxStoredFieldBytes = 64;    // <field> of "user.<field>"
inline constexpr int32_t kMaxStoredFeatureBytes = 69;  // "item." + 64
// Namespaces the stored values are added under.
inline constexpr char kUserNamespace[] = "user";
inline constexpr char kItemNamespace[] = "item";

// Where stored attributes come from (the server's catalog; a map in tests).
// Implementations are thread-safe.
class AttributeSource {
 public:
  virtual ~AttributeSource() = default;
  // Returns the user's stored record at this moment, or nullopt.
  virtual std::optional<CatalogUser> GetUser(const std::string& user) const = 0;
  // Returns the item's stored record at this moment, or nullopt.
  virtual std::optional<CatalogItem> GetItem(const std::string& item) const = 0;
  // Returns true when some user or item has stored the numeric field `name`.
  virtual bool HasNumericField(const std::string& name) const = 0;
};

// One parsed stored-feature name. Plain data.
struct StoredFeature {
  enum class Entity { kUser, kItem };
  enum class Kind { kCategory, kTag, kNumber };
  Entity entity = Entity::kUser;
  Kind kind = Kind::kNumber;
  std::string field;  // "category", "tag" or the numeric field name
};

// The parsed stored_features of a request. Plain data.
struct StoredFeatureSpec {
  std::vector<StoredFeature> features;  // request order
  bool any_user = false;
  bool any_item = false;
  bool empty() const { return features.empty(); }
};

// Returns the parsed names. INVALID_ARGUMENT naming stored_features[i] and
// the bound for: more than kMaxStoredFeatures names, a name longer than
// kMaxStoredFeatureBytes, one not of the form "user.<field>" / "item.<field>"
// with <field> category, tag or [A-Za-z_][A-Za-z0-9_]* (1..64 bytes), or a
// repeat. Numeric fields are not checked against a catalog here.
absl::StatusOr<StoredFeatureSpec> ParseStoredFeatures(
    const google::protobuf::RepeatedPtrField<std::string>& names);

// Returns OK when every numeric field of `spec` is known to `source`, else
// NOT_FOUND naming stored_features[i] and the field.
absl::Status CheckStoredFields(const StoredFeatureSpec& spec, const AttributeSource& source);

// Appends to `out` (a new Namespace named kUserNamespace or kItemNamespace)
// the features of `spec`'s attributes of one entity, read from `record`
// (nullptr: no record stored). The encoding, in spec order:
//   numeric field f stored with value v != 0:  feature "f" = float(v)
//   numeric field f stored with value 0:        nothing (contributes 0)
//   numeric field f not stored, or no record:   feature "f:missing" = 1
//   category / tag, each value c:               feature "category=c" = 1
//   no category / tag:                          feature "category:missing" = 1
// Nothing is appended when `spec` names no attribute of this entity.
// INVALID_ARGUMENT when a value does not fit a float (|v| > 3.4e38),
// naming `where` (e.g. "user \"u1\"") and the field. T is CatalogUser or
// CatalogItem.
template <typename T>
absl::Status AppendStoredFeatures(const StoredFeatureSpec& spec, StoredFeature::Entity entity,
                                  const T* record, const std::string& where,
                                  google::protobuf::RepeatedPtrField<Namespace>* out);

// Returns `context` and `actions` with the stored values of `spec` appended,
// looked up in `source` now: the user `user` (required when spec names user
// attributes: INVALID_ARGUMENT "unit_id is required ..." when empty) and the
// item of each action's id. Errors as the functions above. This is the one
// function Decide and Recommend build stored features with.
absl::Status ApplyStoredFeatures(const StoredFeatureSpec& spec, const AttributeSource& source,
                                 const std::string& user, Context* context,
                                 google::protobuf::RepeatedPtrField<Action>* actions);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_STORED_FEATURES_H_

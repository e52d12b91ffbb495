// Stored features: parsing the names and encoding the stored values (see
// stored_features.h).
#include "bandits/stored_features.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "proto/core/names.h"

namespace recbandit::bandits {
namespace {

const char* EntityName(StoredFeature::Entity entity) {
  return entity == StoredFeature::Entity::kUser ? "user" : "item";
}

// Appends feature `name` = `value` to `ns`.
void Add(Namespace* ns, std::string name, float value) {
  Feature* f = ns->add_features();
  f->set_name(std::move(name));
  f->set_value(value);
}

// Appends "<field>=<value>" per value, or "<field>:missing".
void AddValues(const google::protobuf::RepeatedPtrField<std::string>& values,
               const std::string& field, Namespace* ns) {
  if (values.empty()) {
    Add(ns, absl::StrCat(field, ":missing"), 1.0f);
    return;
  }
  for (const std::string& v : values) Add(ns, absl::StrCat(field, "=", v), 1.0f);
}

}  // namespace

absl::StatusOr<StoredFeatureSpec> ParseStoredFeatures(
    const google::protobuf::RepeatedPtrField<std::string>& names) {
  StoredFeatureSpec spec;
  if (names.size() > kMaxStoredFeatures) {
    return absl::InvalidArgumentError(absl::StrCat("stored_features has ", names.size(),
                                                   " names; at most ", kMaxStoredFeatures));
  }
  for (int i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    const std::string where = absl::StrCat("stored_features[", i, "]");
    if (name.size() > static_cast<size_t>(kMaxStoredFeatureBytes)) {
      return absl::InvalidArgumentError(absl::StrCat(where, " is ", name.size(),
                                                     " bytes; at most ",
                                                     kMaxStoredFeatureBytes));
    }
    StoredFeature f;
    absl::string_view field;
    if (absl::string_view(name).substr(0, 5) == "user.") {
      f.entity = StoredFeature::Entity::kUser;
      field = absl::string_view(name).substr(5);
    } else if (absl::string_view(name).substr(0, 5) == "item.") {
      f.entity = StoredFeature::Entity::kItem;
      field = absl::string_view(name).substr(5);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " ", Quote(name), " must be \"user.<field>\" or \"item.<field>\""));
    }
    if (field == "category") {
      f.kind = StoredFeature::Kind::kCategory;
    } else if (field == "tag") {
      f.kind = StoredFeature::Kind::kTag;
    } else if (IsNumericFieldName(field)) {
      f.kind = StoredFeature::Kind::kNumber;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " ", Quote(name),
          ": the field must be category, tag or a numeric field name (1..64 bytes of "
          "[A-Za-z_][A-Za-z0-9_]*)"));
    }
    f.field = std::string(field);
    for (int j = 0; j < i; ++j) {
      if (names[j] == name) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, " ", Quote(name), " repeats stored_features[", j, "]"));
      }
    }
    spec.any_user |= f.entity == StoredFeature::Entity::kUser;
    spec.any_item |= f.entity == StoredFeature::Entity::kItem;
    spec.features.push_back(std::move(f));
  }
  return spec;
}

absl::Status CheckStoredFields(const StoredFeatureSpec& spec, const AttributeSource& source) {
  for (size_t i = 0; i < spec.features.size(); ++i) {
    const StoredFeature& f = spec.features[i];
    if (f.kind == StoredFeature::Kind::kNumber && !source.HasNumericField(f.field)) {
      return absl::NotFoundError(absl::StrCat(
          "stored_features[", i, "] \"", EntityName(f.entity), ".", f.field,
          "\": no user or item has the numeric field ", f.field, " (PutUsers / PutItems)"));
    }
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status AppendStoredFeatures(const StoredFeatureSpec& spec, StoredFeature::Entity entity,
                                  const T* record, const std::string& where,
                                  google::protobuf::RepeatedPtrField<Namespace>* out) {
  Namespace* ns = nullptr;
  for (const StoredFeature& f : spec.features) {
    if (f.entity != entity) continue;
    if (ns == nullptr) {
      ns = out->Add();
      ns->set_name(entity == StoredFeature::Entity::kUser ? kUserNamespace : kItemNamespace);
    }
    switch (f.kind) {
      case StoredFeature::Kind::kCategory:
        if (record == nullptr) {
          Add(ns, "category:missing", 1.0f);
        } else {
          AddValues(record->categories(), "category", ns);
        }
        break;
      case StoredFeature::Kind::kTag:
        if (record == nullptr) {
          Add(ns, "tag:missing", 1.0f);
        } else {
          AddValues(record->tags(), "tag", ns);
        }
        break;
      case StoredFeature::Kind::kNumber: {
        if (record == nullptr) {
          Add(ns, absl::StrCat(f.field, ":missing"), 1.0f);
          break;
        }
        const auto it = record->numbers().find(f.field);
        if (it == record->numbers().end()) {
          Add(ns, absl::StrCat(f.field, ":missing"), 1.0f);
        } else if (it->second != 0) {
          if (!(std::fabs(it->second) <= std::numeric_limits<float>::max())) {
            return absl::InvalidArgumentError(absl::StrCat(
                where, " ", f.field, " = ", it->second,
                " does not fit a float feature (|value| <= 3.4e38)"));
          }
          Add(ns, f.field, static_cast<float>(it->second));
        }
        break;
      }
    }
  }
  return absl::OkStatus();
}

template absl::Status AppendStoredFeatures<CatalogUser>(
    const StoredFeatureSpec&, StoredFeature::Entity, const CatalogUser*, const std::string&,
    google::protobuf::RepeatedPtrField<Namespace>*);
template absl::Status AppendStoredFeatures<CatalogItem>(
    const StoredFeatureSpec&, StoredFeature::Entity, const CatalogItem*, const std::string&,
    google::protobuf::RepeatedPtrField<Namespace>*);

absl::Status ApplyStoredFeatures(const StoredFeatureSpec& spec, const AttributeSource& source,
                                 const std::string& user, Context* context,
                                 google::protobuf::RepeatedPtrField<Action>* actions) {
  if (spec.empty()) return absl::OkStatus();
  if (absl::Status s = CheckStoredFields(spec, source); !s.ok()) return s;
  if (spec.any_user) {
    if (user.empty()) {
      return absl::InvalidArgumentError(
          "unit_id is required when stored_features name user attributes: it is the user "
          "whose stored record is read");
    }
    const std::optional<CatalogUser> record = source.GetUser(user);
    if (absl::Status s =
            AppendStoredFeatures(spec, StoredFeature::Entity::kUser,
                                 record ? &*record : nullptr,
                                 absl::StrCat("user ", Quote(user)), context->mutable_namespaces());
        !s.ok()) {
      return s;
    }
  }
  if (spec.any_item) {
    for (int a = 0; a < actions->size(); ++a) {
      Action* action = actions->Mutable(a);
      const std::optional<CatalogItem> record = source.GetItem(action->id());
      if (absl::Status s = AppendStoredFeatures(
              spec, StoredFeature::Entity::kItem, record ? &*record : nullptr,
              absl::StrCat("actions[", a, "] item ", Quote(action->id())),
              action->mutable_namespaces());
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace recbandit::bandits

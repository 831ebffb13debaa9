//! Vendor quirks as named predicates, so the client code says what it works
//! around instead of testing vendors inline.

use super::parse::Vendor;

/// Some BMCs (older iDRAC, iLO, several Supermicro releases) reject
/// `InsertMedia` with `Inserted`/`WriteProtected` (HTTP 400) and only take
/// `{Image}`: on 400 retry with the minimal payload, whatever the vendor,
/// because the firmware release matters more than the vendor.
pub fn retry_insert_media_minimal(status: u16) -> bool {
    status == 400
}

/// BMCs that accept `BootSourceOverrideEnabled: Once` but read back
/// `Continuous` (sushy-tools does this; so do some OpenBMC releases): for
/// them the read-back check compares the target and mode only.
pub fn boot_once_may_read_back_continuous(vendor: Vendor) -> bool {
    matches!(vendor, Vendor::Generic | Vendor::Nvidia)
}

/// HPE iLO wants an ejected slot before a new insert even when `Inserted`
/// reads false after a failed insert; ejecting an empty slot is refused by
/// some others with 400/500, which is ignored.
pub fn eject_error_is_harmless(status: u16) -> bool {
    matches!(status, 400 | 409 | 500)
}

/// sushy-tools wants `Targets` in `SimpleUpdate`; vendor BMCs infer the
/// target from the image, and iDRAC rejects a system path there.
pub fn simple_update_needs_targets(vendor: Vendor) -> bool {
    vendor == Vendor::Generic
}

/// Statuses with which firmware that advertises `ExpandQuery` refuses
/// `$expand` (seen on older Supermicro and OpenBMC releases): read the
/// collection without it.
pub fn expand_refused(status: u16) -> bool {
    matches!(status, 400 | 405 | 406 | 501)
}

/// Statuses with which a service refuses a PATCH for its `If-Match`: 412
/// (the resource changed since it was read) and 428 (a tag is required,
/// some iLO releases): read the resource again and retry once with its tag.
pub fn etag_refused(status: u16) -> bool {
    matches!(status, 412 | 428)
}

/// Statuses with which a BMC refuses an `InsertMedia` sent without reading
/// the slot first: an occupied slot (400/409, iDRAC 500), a slot or action
/// renumbered by a firmware update (404/405), a payload variant it wants
/// otherwise (400). Each is worth reading the slot and going the long way;
/// refused credentials (401/403) are not.
pub fn blind_insert_refused(status: u16) -> bool {
    (400..=599).contains(&status) && !matches!(status, 401 | 403)
}

/// Statuses with which a BMC refuses a boot override PATCHed from the
/// system copy at hand without a tag: 400 (the allowed targets changed with
/// the boot mode since that copy), 412/428 (it wants `If-Match` after all).
/// A fresh read explains each, so the PATCH is tried again after one.
pub fn untagged_patch_refused(status: u16) -> bool {
    matches!(status, 400 | 412 | 428)
}

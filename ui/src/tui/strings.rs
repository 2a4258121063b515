//! Every user-facing string of the terminal UI, in one place so wording stays consistent and a
//! translation (or a review for 80-column fit) touches one file.

pub const TITLE: &str = "Wraith - disk cloning and imaging";
pub const DISKS: &str = "Disks";
pub const SYSTEM: &str = "System";
pub const ACTIONS: &str = "Actions";
pub const NO_DISKS: &str = "no disks found";
pub const BOOT_MEDIUM: &str = "WRAITH BOOT MEDIUM - never offered as a target";
pub const UNKNOWN_MODEL: &str = "(unknown model)";
pub const HOME_KEYS: &str = "Enter actions   n network   Ctrl-L redraw   q quit";
pub const MENU_KEYS: &str = "Up/Down choose   Enter select   Esc close";
pub const PICK_KEYS: &str = "Up/Down choose   Enter select   Esc back";
pub const INPUT_KEYS: &str = "type a directory or URL   Enter continue   Esc back";
pub const BROWSE_KEYS: &str = "Up/Down choose   Enter details   Esc back";
pub const DETAILS_KEYS: &str = "Up/Down scroll   v verify this image   Esc back";
pub const READING_KEYS: &str = "Esc back";
pub const CANCEL_KEYS: &str = "y stop the job   n go on";
pub const RUN_KEYS: &str = "Esc cancel   PgUp/PgDn scroll the log";
pub const SUMMARY_KEYS: &str = "Enter back to the home screen";
pub const SUMMARY_SAVE_KEYS: &str = "Enter back to the home screen   l save the log";
pub const SAVE_LOG_KEYS: &str = "Up/Down choose   Enter copy the log here   Esc back";
pub const SAVING_LOG_KEYS: &str = "Esc back (the copy goes on)";
pub const ERROR_TITLE: &str = "Error";
pub const ERROR_KEYS: &str = "press any key";
pub const CANCEL_TITLE: &str = "Cancel?";
pub const CANCEL_QUESTION: &str = "Stop the running job? y / n";
pub const CANCELLING: &str = "cancelling...";

pub const MENU_ITEMS: [&str; 8] = [
    "Clone disk -> disk",
    "Save disk -> image",
    "Restore image -> disk",
    "Verify image",
    "Browse repository",
    "Shell",
    "Reboot",
    "Power off",
];

pub const PICK_SOURCE: &str = "Pick the SOURCE disk (read only)";
pub const PICK_TARGET: &str = "Pick the TARGET disk (will be overwritten)";
pub const PICK_SAVE_SOURCE: &str = "Pick the disk to save";
pub const REASON_SOURCE: &str = "is the source";
pub const REASON_BOOT: &str = "Wraith boot medium";
pub const REASON_READ_ONLY: &str = "read-only";
pub const REASON_TOO_SMALL: &str = "too small, needs";

pub const REPO_PROMPT: &str = "Repository";
pub const REPO_HINT: &str =
    "A directory, or smb://[user@]host/share, nfs://host/export, http(s)://host";
pub const IMAGES: &str = "Images in the repository";
pub const NO_IMAGES: &str = "no images in this repository";
pub const IMAGE_COLUMNS: &str =
    "image (id, source disk)            saved                        size    stored";
pub const IMAGE_DETAILS: &str = "Image";
pub const DETAIL_IMAGE: &str = "Image";
pub const DETAIL_CREATED: &str = "Created";
pub const DETAIL_SOURCE: &str = "Source disk";
pub const DETAIL_TABLE: &str = "Table";
pub const DETAIL_BYTES: &str = "Data";
pub const SERIAL: &str = "serial";
pub const NO_TABLE: &str = "none (whole disk)";
pub const SECTORS_OF: &str = "sectors of";
pub const OF_DISK_DATA: &str = "of disk data";
pub const STORED: &str = "stored";
pub const NEW_WHEN_SAVED: &str = "new when saved";
pub const SAVED: &str = "saved";
pub const FROM: &str = "from";

pub const PLAN_TITLE: &str = "Plan";
pub const PLAN_SOURCE: &str = "Source";
pub const PLAN_TARGET: &str = "Target";
pub const PLAN_IMAGE: &str = "Image ";
pub const PLAN_REPO: &str = "Repo  ";
pub const PLAN_DESTROYED: &str = "DESTROYED on the target:";
pub const PLAN_NOTHING_DESTROYED: &str = "nothing found on the target (it is still overwritten)";
pub const PLAN_COLUMNS: &str =
    "  region          size       fs     label        how          bytes";
pub const PLAN_FITS: &str = "fits";
pub const PLAN_NOT_FIT: &str = "DOES NOT FIT";
pub const PLAN_ESTIMATE: &str = "at 150 MB/s; an estimate";
pub const TYPE_TO_CONFIRM: &str = "Type the target's name to start";
pub const ENTER_TO_START: &str = "Press Enter to start";
pub const CONFIRM_KEYS: &str = "PgUp/PgDn scroll   Enter start   Esc back";
pub const CONFIRM_VERIFY_KEYS: &str =
    "PgUp/PgDn scroll   Tab verify on/off   Enter start   Esc back";
pub const PLAN_MORE_ABOVE: &str = "-- more above: PgUp --";
pub const PLAN_MORE_BELOW: &str = "-- more below: PgDn --";
pub const PLAN_MORE_BOTH: &str = "-- more above and below: PgUp / PgDn --";
pub const VERIFY_AFTER: &str = "verify afterwards: read back and compare (Tab)";
pub const PLAN_SOURCE_MOUNTED: &str = "WARNING: the source is mounted at";
pub const PLAN_SOURCE_MOUNTED_WHY: &str =
    "files written while it is read may be copied half-way; unmount it for a consistent copy";
pub const READING: &str = "Reading the partition table and filesystems of";
pub const READING_WHY: &str = "Nothing is written. A large or slow disk can take a while.";

pub const RUN_CLONE: &str = "Cloning";
pub const RUN_SAVE: &str = "Saving";
pub const RUN_RESTORE: &str = "Restoring";
pub const RUN_VERIFY: &str = "Verifying";
pub const LOG: &str = "Log";
pub const LOG_BACK: &str = "lines back";
pub const OVERALL: &str = "overall";
pub const STEP: &str = "step";
pub const OF: &str = "of";
pub const THROUGHPUT: &str = "Throughput";
pub const ELAPSED: &str = "Elapsed";
pub const ETA: &str = "ETA (estimate)";

pub const SUMMARY_OK: &str = "Done";
pub const SUMMARY_FAILED: &str = "FAILED";
pub const SUMMARY_PARTIAL: &str =
    "Done, but PART OF THE SOURCE COULD NOT BE READ: the copy holds zeros there (listed below)";
pub const SUMMARY_CANCELLED: &str = "Cancelled: the target is incomplete";
pub const SUMMARY_LOG: &str = "The log of this job is in";
pub const SUMMARY_NO_LOG: &str = "No log file: it could not be created in";
pub const SUMMARY_SAVE_LOG: &str =
    "It is lost at power-off: l copies it to a USB stick or another disk.";
pub const LOG_SAVE_TITLE: &str = "Save the log";
pub const LOG_COPY: &str = "Copy";
pub const LOG_COPY_TO: &str = "to";
pub const LOG_COPY_ON: &str = "on:";
pub const LOG_NO_PLACE: &str =
    "No writable filesystem found. Plug in a USB stick (FAT, ext or NTFS): it shows here.";
pub const LOG_MOUNTED_AT: &str = "mounted at";
pub const LOG_MOUNTED_FOR_COPY: &str = "mounted for the copy, unmounted after it";
pub const LOG_COPYING: &str = "Copying the log to";
pub const LOG_SAVED: &str = "Log saved on";
pub const LOG_SAVED_AS: &str = "as";
pub const LOG_NOT_SAVED: &str = "Log NOT saved on";

pub const NETWORK: &str = "Network";
pub const NET_KEYS: &str = "Up/Down choose   d DHCP   s static address   Esc back";
pub const NET_FORM_KEYS: &str = "Tab/Up/Down field   Enter apply   Esc cancel";
pub const NET_COLUMNS: &str = "interface  MAC               link method state       address";
pub const NET_NONE: &str = "no Ethernet interfaces";
pub const NET_NO_INIT: &str =
    "No network state from wraith-init here (not the live system): this host's network is used as it is, and changed with the host's own tools.";
pub const NET_NO_LINK: &str = "no link: is the cable plugged in?";
pub const NET_IS_OFF: &str = "off: d for DHCP, s for a static address";
pub const NET_ASKING_DHCP: &str = "asking a DHCP server for an address...";
pub const NET_NO_ADDRESS: &str = "no address";
pub const NET_ERROR: &str = "error";
pub const NET_GATEWAY_SHORT: &str = "gateway";
pub const NET_REFUSED: &str = "init refused the change";
pub const NET_APPLIED: &str = "init is applying";
pub const NET_IN_PLACE: &str = "in place:";
pub const NET_SENT: &str = "asked init for";
pub const NET_NO_ANSWER: &str =
    "no answer from wraith-init after 10 s: it may not take requests here; look again later";
pub const NET_FORM_TITLE: &str = "Static address for";
pub const NET_FORM_HINT: &str =
    "DNS: one or more, separated by commas. Gateway and DNS may stay empty.";
pub const NET_ADDRESS_PROMPT: &str = "Address/prefix";
pub const NET_GATEWAY_PROMPT: &str = "Gateway";
pub const NET_DNS_PROMPT: &str = "DNS servers";
pub const NET_ADDRESS: &str = "Address";
pub const NET_GATEWAY: &str = "Gateway";
pub const NET_DNS: &str = "DNS";
pub const NET_NEED_ADDRESS: &str = "Address: type one with its prefix, e.g. 192.168.1.50/24";
pub const NET_NEED_PREFIX: &str = "needs a /prefix, e.g. 192.168.1.50/24 (/24 is 255.255.255.0)";
pub const NET_PREFIX_RANGE: &str = "must be 1 to 32 (/24 is 255.255.255.0)";

pub const PASSWORD_TITLE: &str = "Password";
pub const PASSWORD_PROMPT: &str = "Password";
pub const PASSWORD_FOR: &str = "The repository logs in as";
pub const PASSWORD_HIDDEN: &str =
    "What you type is not shown, logged or stored; it is kept only while this repository is used.";
pub const PASSWORD_KEYS: &str = "type the password   Enter log in   Esc back";
pub const PASSWORD_TYPED: &str = "typed, hidden";
pub const PASSWORD_RETRY: &str = "Type it again, or Esc to change the URL.";

pub const WAITNET_TITLE: &str = "Waiting for the network";
pub const WAITNET_WHY: &str = "needs the network, and no interface has an address yet.";
pub const WAITNET_HOW: &str =
    "A DHCP server usually answers within seconds. No cable or no DHCP server? n opens the network settings (a static address), then Enter tries the URL again.";
pub const WAITNET_KEYS: &str = "n network settings  Esc cancel";
pub const OPENING_TITLE: &str = "Connecting";
pub const OPENING: &str = "Opening";
pub const OPENING_WHY: &str = "A server that does not answer is given up on after its timeout.";
pub const OPENING_KEYS: &str = "Esc stop waiting";
pub const WAITNET_TIMEOUT: &str = "no network address after";
pub const WAITNET_TIMEOUT_HINT: &str =
    "check the cable and the DHCP server, or set a static address on the network screen (n on the home screen)";
pub const PREPARING_TITLE: &str = "Preparing";
pub const PREPARING: &str = "Checking the plan:";
pub const PREPARING_WHY: &str =
    "Nothing is written before you confirm. A slow disk or server can take a while.";
pub const PREPARING_KEYS: &str = "Esc give up";
pub const REFUSED_TITLE: &str = "Refused";
pub const REFUSED_WHY: &str = "Nothing was written.";

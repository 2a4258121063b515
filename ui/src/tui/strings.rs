//! Every user-facing string of the terminal UI, in one place so wording stays consistent and a
//! translation (or a review for 80-column fit) touches one file.

pub const TITLE: &str = "Wraith - disk cloning and imaging";
pub const DISKS: &str = "Disks";
pub const HOME: &str = "Home";
pub const SYSTEM: &str = "System";
pub const ACTIONS: &str = "Actions";
pub const NO_DISKS: &str = "no disks found";
pub const BOOT_MEDIUM: &str = "WRAITH BOOT MEDIUM - never offered as a target";
pub const UNKNOWN_MODEL: &str = "(unknown model)";
pub const HOME_KEYS: &str =
    "Enter actions   r restore   s save   c clone   n network   ? help   q quit";
pub const MENU_KEYS: &str = "Up/Down choose   Enter select   Esc close   ? help";
pub const PICK_KEYS: &str = "Up/Down choose   Enter select   Esc back   ? help";
pub const INPUT_KEYS: &str = "type a directory or URL   Enter continue   Esc the list   F1 help";
pub const BROWSE_KEYS: &str = "Up/Down choose   Enter details   Esc back   ? help";
pub const DETAILS_KEYS: &str =
    "Up/Down scroll   b browse files   v verify this image   Esc back   ? help";
pub const BROWSE_READING_KEYS: &str = "Esc stop waiting   ? help";
pub const BROWSE_PARTS_KEYS: &str = "Up/Down choose   Enter open   Esc back   ? help";
pub const BROWSE_DIR_KEYS: &str =
    "Enter open   Backspace up   Space mark   c copy   Esc back   ? help";
pub const BROWSE_DEST_KEYS: &str = "Up/Down choose   Enter copy here   Esc back   ? help";
pub const BROWSE_COPY_KEYS: &str = "Esc cancel the copy   ? help";
pub const BROWSE_DONE_KEYS: &str = "Enter back to the files   ? help";
pub const READING_KEYS: &str = "Esc back   ? help";
pub const CANCEL_KEYS: &str = "y stop the job   n go on";
pub const RUN_KEYS: &str = "Esc cancel   PgUp/PgDn scroll the log   ? help";
pub const SUMMARY_KEYS: &str = "Enter back to the home screen   ? help";
pub const SUMMARY_SAVE_KEYS: &str = "Enter back to the home screen   l save the log   ? help";
pub const SAVE_LOG_KEYS: &str = "Up/Down choose   Enter copy the log here   Esc back   ? help";
pub const SAVING_LOG_KEYS: &str = "Esc back (the copy goes on)   ? help";
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
pub const REASON_REPOSITORY: &str = "holds the repository";

pub const REPO_PROMPT: &str = "Repository";
pub const REPO_HINT: &str =
    "A directory or a drive: /mnt/usb/images, label:IMAGES/lab, uuid:1234-ABCD/lab";
pub const REPO_HINT_SHARE: &str =
    "A share: smb://[user@]host/share/dir, nfs://host/export, http(s)://host/dir";
pub const IMAGES: &str = "Images in the repository";
pub const NO_IMAGES: &str = "no images in this repository";
/// The image list's column heads: images are grouped by the machine they were saved on
/// (or, without one recorded, by their source disk) and listed oldest first.
pub const IMAGE_COL_NAME: &str = "image (by machine, newest last)";
pub const IMAGE_COL_SAVED: &str = "saved";
pub const IMAGE_COL_SIZE: &str = "data";
pub const IMAGE_COL_ADDED: &str = "added";
pub const IMAGE_DAMAGED_GROUP: &str = "(manifest unreadable)";
pub const PRESELECTED: &str = "preselected:";
pub const PRE_THIS_DISK: &str = "saved from this disk,";
pub const PRE_THIS_MACHINE: &str = "saved on this machine,";
pub const PRE_SAME_MODEL: &str = "saved from a disk of the same model,";
pub const PRE_NO_MATCH: &str =
    "no image was saved from this machine's disks: choose one with Up/Down";
pub const PRE_TARGET_SERIAL: &str = "the disk this image was saved from,";
pub const PRE_TARGET_MODEL: &str = "the same model as the image's source,";
pub const PRE_TARGET_ONLY: &str = "the only disk the image fits on";
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
pub const PLAN_LAYOUT: &str = "layout";
pub const PLAN_LAYOUT_FOR: &str = "partitions resized for a target of";
pub const PLAN_HEALTH: &str = "health";
pub const KEYBOARD: &str = "Keyboard layout";
pub const KEYBOARD_NOW: &str = "keyboard";
pub const KEYBOARD_HOW: &str = "k changes it";
pub const KEYBOARD_KEYS: &str = "Up/Down choose   Enter use it   Esc close";
pub const ERR_KEYBOARD: &str = "changing the keyboard layout";
/// The second word typed after a failing target's name.
pub const FAILING_WORD: &str = "failing";
pub const PLAN_POLICY: &str = "layout policy:";
pub const PLAN_POLICY_KEY: &str = "F2: plan with";
pub const PLAN_COMPRESSION: &str = "compression:";
pub const PLAN_COMPRESSION_KEY: &str = "F2: plan with";
pub const PLAN_NAME: &str = "then name the machine:";
pub const PLAN_NAME_NONE: &str = "no, it keeps the image's names";
pub const PLAN_NAME_KEY: &str = "F3: give it a name";
pub const NAME_PROMPT: &str =
    "Name ({serial} and {mac} allowed; empty: none), Enter plans again, Esc keeps the plan";
pub const PLAN_SCRATCH: &str = "scratch space needed:";
pub const PLAN_ESTIMATE: &str = "at 150 MB/s; an estimate";
pub const TYPE_TO_CONFIRM: &str = "Type the target's name to start";
pub const ENTER_TO_START: &str = "Press Enter to start";
pub const CONFIRM_KEYS: &str = "PgUp/PgDn scroll   Enter start   Esc back   F1 help";
pub const CONFIRM_VERIFY_KEYS: &str =
    "PgUp/PgDn scroll   Tab verify on/off   Enter start   Esc back   F1 help";
/// The plan of a job that destroys nothing (a save): no name to type, so `?` is not typed.
pub const START_KEYS: &str = "PgUp/PgDn scroll   Enter start   Esc back   ? help";
/// A clone or restore plan: its layout policy can be changed (F2).
pub const CONFIRM_LAYOUT_KEYS: &str =
    "PgUp/PgDn scroll  Tab verify  F2 layout  Enter start  Esc back  F1 help";
pub const START_LAYOUT_KEYS: &str =
    "PgUp/PgDn scroll  Tab verify  F2 layout  Enter start  Esc back  ? help";
pub const START_VERIFY_KEYS: &str =
    "PgUp/PgDn scroll   Tab verify on/off   Enter start   Esc back   ? help";
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

pub const BROWSE_TITLE: &str = "Browse files";
pub const BROWSE_PARTS: &str = "the image's partitions";
pub const BROWSE_PARTS_OF: &str = "Partitions of";
pub const BROWSE_NO_PARTS: &str = "This image holds no partition with files.";
pub const BROWSE_PARTITION: &str = "partition";
pub const BROWSE_WHOLE: &str = "whole disk";
pub const BROWSE_CANNOT_READ: &str = "cannot be browsed";
pub const BROWSE_EMPTY: &str = "(empty)";
pub const BROWSE_READING: &str = "Reading";
pub const BROWSE_NONE_MARKED: &str =
    "Nothing marked: Space marks a file or folder; c copies the highlighted one";
pub const BROWSE_MARKED: &str = "marked";
pub const BROWSE_FILE: &str = "file";
pub const BROWSE_FILES: &str = "files";
pub const BROWSE_FOLDER: &str = "folder";
pub const BROWSE_FOLDERS: &str = "folders";
pub const BROWSE_LINK: &str = "symlink";
pub const BROWSE_LINKS: &str = "symlinks";
pub const BROWSE_INTO: &str = "go into the folder";
pub const BROWSE_DEST_TITLE: &str = "Copy files to";
pub const BROWSE_COPY_TITLE: &str = "Copying files";
pub const BROWSE_COPY_TO: &str = "Copying to";
pub const BROWSE_EXISTED: &str =
    "The folder was there already: files already in it are left as they are, not overwritten.";
pub const BROWSE_NOT_A_FOLDER: &str = "there already and not a folder; nothing copied";
pub const BROWSE_FILES_DONE: &str = "Files:";
pub const BROWSE_NOW: &str = "Now:";
pub const BROWSE_COPIED: &str = "Copied";
pub const BROWSE_COPY_FAILED: &str = "Copy stopped:";
pub const BROWSE_BEFORE_STOP: &str = "Copied before it stopped:";
pub const BROWSE_SKIPPED: &str = "skipped or incomplete";

pub const NETWORK: &str = "Network";
pub const NET_KEYS: &str = "Up/Down choose   d DHCP   s static address   Esc back   ? help";
pub const NET_FORM_KEYS: &str = "Tab/Up/Down field   Enter apply   Esc cancel   F1 help";
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
pub const PASSWORD_KEYS: &str = "type the password   Enter log in   Esc back   F1 help";
pub const PASSWORD_TYPED: &str = "typed, hidden";
pub const PASSWORD_RETRY: &str = "Type it again, or Esc to change the URL.";

pub const WAITNET_TITLE: &str = "Waiting for the network";
pub const WAITNET_WHY: &str = "needs the network, and no interface has an address yet.";
pub const WAITNET_HOW: &str =
    "A DHCP server usually answers within seconds. No cable or no DHCP server? n opens the network settings (a static address), then Enter tries the URL again.";
pub const WAITNET_KEYS: &str = "n network settings   Esc cancel   ? help";
pub const OPENING_TITLE: &str = "Connecting";
pub const OPENING: &str = "Opening";
pub const OPENING_WHY: &str = "A server that does not answer is given up on after its timeout.";
pub const OPENING_KEYS: &str = "Esc stop waiting   ? help";
pub const WAITNET_TIMEOUT: &str = "no network address after";
pub const WAITNET_TIMEOUT_HINT: &str =
    "Check the cable and the DHCP server, or press n to set a static address on the network screen";
pub const PREPARING_TITLE: &str = "Preparing";
pub const PREPARING: &str = "Checking the plan:";
pub const PREPARING_WHY: &str =
    "Nothing is written before you confirm. A slow disk or server can take a while.";
pub const PREPARING_KEYS: &str = "Esc give up   ? help";
pub const REFUSED_TITLE: &str = "Refused";
pub const REFUSED_WHY: &str = "Nothing was written.";

pub const REPOS_RESTORE: &str = "Repository to restore from";
pub const REPOS_SAVE: &str = "Repository to save into";
pub const REPOS_VERIFY: &str = "Repository to verify";
pub const REPOS_BROWSE: &str = "Repository to browse";
pub const REPOS_KEYS: &str =
    "Up/Down choose   Enter open   t type   r look again   Esc back   ? help";
pub const REPOS_KNOWN_KEYS: &str =
    "Enter open   t type   r look again   d forget   Esc back   ? help";
pub const REPOS_FORGET_KEYS: &str = "y forget it   n keep it";
pub const REPOS_LOOKING: &str = "Looking for repositories on";
pub const REPOS_FILESYSTEMS: &str = "filesystems...";
pub const REPOS_FOUND: &str = "found on";
pub const REPOS_LOOKED_AT: &str = "looked at";
pub const REPOS_NONE: &str = "No repository found on the";
pub const REPOS_NO_FILESYSTEM: &str = "No repository found: no drive with a filesystem to look at.";
pub const REPOS_NONE_NEXT: &str =
    "Plug in the drive with the images, or press t to type a path or a share's URL.";
pub const REPOS_NONE_SAVE: &str =
    "Save into a new repository below, or press t to type a path or a share's URL.";
pub const REPOS_NONE_SAVE_NO_ROOM: &str =
    "Plug in a drive with room for the image, or press t to type a path or a share's URL.";
pub const REPOS_KNOWN: &str = "Known:";
pub const REPOS_BOOT_PARAM: &str = "boot parameter";
pub const REPOS_REMEMBERED: &str = "remembered";
pub const REPOS_PASSWORD_KEPT: &str = "password kept";
pub const REPOS_NEW_ON: &str = "New repository on";
pub const REPOS_FREE: &str = "free";
pub const REPOS_TYPE: &str = "Type a path or URL...";
pub const REPOS_EMPTY: &str = "empty";
pub const REPOS_NEWEST: &str = "newest";
pub const REPOS_UNREADABLE: &str = "cannot be read:";
pub const REPOS_STILL_LOOKING: &str =
    "Still looking (a disk came or went): it opens when the look is done.";
pub const REPOS_FORGET_ASK: &str = "Forget";
pub const REPOS_FORGET_WHAT: &str =
    "It is taken off repositories.toml, with its kept password. y / n";
pub const REPOS_CANNOT_FORGET: &str =
    "named by a boot parameter (wraith.repo=): edit the boot line to drop it";
pub const REPOS_FORGOT: &str = "Forgot";

pub const REMEMBER_TITLE: &str = "Remember this share?";
pub const REMEMBER_ON_STICK: &str = "Remember this share on the stick?";
pub const REMEMBER_IN: &str = "Remember this share in";
pub const REMEMBER_WHY: &str =
    "It is then offered in the repository list after every boot, without typing.";
pub const REMEMBER_KEYS: &str = "y remember   p with its password   n no";
pub const REMEMBER_KEYS_NO_PASSWORD: &str = "y remember   n no";
pub const REMEMBER_WARN_TITLE: &str = "Store the password?";
pub const REMEMBER_WARN: &str =
    "The password will be stored in repository-passwords.toml beside the list.";
pub const REMEMBER_WARN_FAT: &str =
    "This stick is FAT, which has no permissions: anyone holding the stick can read it.";
pub const REMEMBER_WARN_STICK: &str =
    "The file is readable by root only, but anyone holding the stick can read it on a machine of their own.";
pub const REMEMBER_WARN_HOST: &str = "The file is readable by its owner only.";
pub const REMEMBER_WARN_KEYS: &str = "y store the password too   n do not";
pub const REMEMBERED: &str = "Remembered";
pub const REMEMBERED_WITH_PASSWORD: &str = "with its password";
pub const NOT_REMEMBERED: &str = "Could not remember";

pub const HELP_TITLE: &str = "Keys";
pub const HELP_CLOSE: &str = "Any key closes this help.";
pub const HELP_TEXT_FIELD: &str = "On this screen ? is typed: F1 shows this help.";

pub const ERROR_NEXT_KEYS_PASSWORD: &str = "p retype the password   any other key closes";
pub const ERROR_NEXT_KEYS_NETWORK: &str = "n network screen   any other key closes";
pub const ERROR_NEXT_KEYS_TYPE: &str = "t type the location   any other key closes";

/// One key of a screen and what it does, for the `?` popup.
pub type KeyHelp = &'static [(&'static str, &'static str)];

pub const HELP_HOME: KeyHelp = &[
    (
        "Enter, m",
        "the actions menu (also shell, reboot, power off)",
    ),
    ("r", "restore an image onto a disk"),
    ("s", "save a disk as an image"),
    ("c", "clone a disk onto another"),
    ("v", "verify the images of a repository"),
    ("b", "browse a repository's images"),
    ("n", "the network: DHCP or a static address"),
    ("k", "the keyboard layout (de, fr, uk, ...)"),
    (
        "Ctrl-L",
        "redraw the screen (after kernel messages garbled it)",
    ),
    ("q, Ctrl-C", "leave Wraith"),
];
pub const HELP_MENU: KeyHelp = &[
    ("Up/Down, k/j", "choose an action"),
    ("Enter", "start it"),
    ("Esc", "close the menu"),
];
pub const HELP_PICK: KeyHelp = &[
    (
        "Up/Down, k/j",
        "choose a disk (a greyed one says why it cannot be)",
    ),
    ("Enter", "take it: nothing is written before the plan"),
    ("Esc", "one step back"),
];
pub const HELP_REPOS: KeyHelp = &[
    ("Up/Down, k/j", "choose a repository, a new one, or typing"),
    ("Enter", "open it (a share may ask for its password)"),
    ("t", "type a directory, label:NAME/dir or a share's URL"),
    ("r", "look again (plugging a drive in does it too)"),
    ("d", "forget a remembered share (asks first)"),
    ("Esc", "one step back"),
];
pub const HELP_TYPE: KeyHelp = &[
    ("letters", "/dir, label:NAME/dir, smb://user@host/share ..."),
    (
        "REPO:NAME",
        "after a ':' an image name (NAME@ID: one save of it)",
    ),
    ("Backspace", "erase a character; Ctrl-U erases the line"),
    ("Enter", "open it"),
    ("Esc", "back to the list of repositories"),
    ("F1", "this help (? is typed: a path may hold one)"),
];
pub const HELP_PASSWORD: KeyHelp = &[
    ("letters", "type the password: it is never shown"),
    ("Backspace", "erase a character; Ctrl-U erases it all"),
    ("Enter", "log in"),
    ("Esc", "back"),
    ("F1", "this help (? is typed: a password may hold one)"),
];
pub const HELP_WAITNET: KeyHelp = &[
    ("n", "network settings: a static address without DHCP"),
    ("Esc, Ctrl-C", "stop waiting"),
];
pub const HELP_NET: KeyHelp = &[
    ("Up/Down, k/j", "choose an interface"),
    ("d", "ask for an address by DHCP"),
    ("s", "set a static address"),
    ("Esc, q", "back"),
];
pub const HELP_NET_FORM: KeyHelp = &[
    ("Tab, Up/Down", "next or previous field"),
    (
        "letters",
        "type the address/prefix, the gateway, the DNS servers",
    ),
    ("Enter", "apply"),
    ("Esc", "close the form, nothing changed"),
    ("F1", "this help"),
];
pub const HELP_IMAGES: KeyHelp = &[
    (
        "Up/Down, k/j",
        "choose an image (preselected: this machine's)",
    ),
    (
        "Enter",
        "take it: restore onto a disk, verify it, or show it",
    ),
    ("Esc", "back to the repositories"),
];
pub const HELP_DETAILS: KeyHelp = &[
    ("Up/Down, PgUp/PgDn", "scroll"),
    ("b", "browse the image's files and copy some to a stick"),
    ("v", "verify this image (reads every chunk)"),
    ("Esc", "back to the list"),
];
pub const HELP_BROWSE_READING: KeyHelp = &[(
    "Esc",
    "stop waiting for the repository: a late answer changes nothing",
)];
pub const HELP_BROWSE_PARTS: KeyHelp = &[
    ("Up/Down, k/j", "choose a partition"),
    ("Enter, Right", "open it (one that cannot be read says why)"),
    ("Esc", "back to the image details"),
];
pub const HELP_BROWSE_DIR: KeyHelp = &[
    ("Up/Down, PgUp/PgDn", "choose a file or folder"),
    ("Enter, Right", "open the folder"),
    (
        "Backspace/Left/Esc",
        "up one folder (at the top: the partitions)",
    ),
    ("Space", "mark or unmark it (marks stay while you walk)"),
    ("c", "copy what is marked, else the highlighted entry"),
];
pub const HELP_BROWSE_DEST: KeyHelp = &[
    ("Up/Down, k/j", "choose the stick or disk"),
    ("Enter", "copy there, into a folder named after the image"),
    ("Esc", "back to the files"),
];
pub const HELP_BROWSE_COPY: KeyHelp = &[
    ("Esc", "cancel the copy (what is copied stays)"),
    ("Enter", "when it is done: back to the files"),
];
pub const HELP_READING: KeyHelp = &[("Esc", "back; nothing was written")];
pub const HELP_PLAN: KeyHelp = &[
    ("Up/Down, PgUp/PgDn", "scroll the plan"),
    ("Tab", "verify afterwards: on or off"),
    ("F2", "plan again with the next layout policy"),
    ("F3", "restore: give the machine its own name afterwards"),
    ("letters", "type the target's name (in quotes) to confirm"),
    ("Enter", "start"),
    ("Esc", "back: nothing was written"),
    ("F1", "this help"),
];
pub const HELP_START: KeyHelp = &[
    ("Up/Down, PgUp/PgDn", "scroll the plan"),
    ("Tab", "verify afterwards: on or off"),
    ("Enter", "start"),
    ("Esc", "back: nothing was written"),
];
pub const HELP_RUN: KeyHelp = &[
    ("Esc, Ctrl-C", "cancel the job (asks first)"),
    ("Up/Down, PgUp/PgDn", "scroll the log back and forth"),
];
pub const HELP_SUMMARY: KeyHelp = &[
    ("Enter", "back to the home screen"),
    ("l", "copy the job's log to a USB stick (live system)"),
];
pub const HELP_SAVE_LOG: KeyHelp = &[
    ("Up/Down, k/j", "choose where"),
    ("Enter", "copy the log there"),
    ("Esc", "back to the summary"),
];
pub const HELP_WAITING: KeyHelp = &[
    ("Esc, Ctrl-C", "stop waiting: a late answer changes nothing"),
    ("Ctrl-L", "redraw the screen"),
];
pub const HELP_REMEMBER: KeyHelp = &[
    ("y", "remember the share (without its password)"),
    ("p", "remember it with its password (warns first)"),
    ("n, Esc", "do not remember it"),
];

pub const ERR_TYPED: &str = "The repository field could not be read";
pub const ERR_SAVE_ID_NEXT: &str =
    "Give REPO or REPO:NAME (press t to correct it): the save names its image with the time";
pub const ERR_NO_NETWORK: &str = "No network address to reach";
pub const ERR_OPEN: &str = "Could not open the repository";
pub const ERR_DAMAGED: &str = "Cannot use the image";
pub const ERR_DAMAGED_NEXT: &str =
    "Choose another image; verifying the repository shows what else is damaged";
pub const ERR_NO_IMAGE: &str = "No such image in";
pub const ERR_NO_IMAGE_NEXT: &str = "Pick one from the list";
pub const ERR_PREPARE: &str = "Could not check the plan:";
pub const ERR_READ_SOURCE: &str = "Could not read the disk";

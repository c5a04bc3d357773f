"""PostgreSQL's 'Default' time zone abbreviation set (share/timezonesets/Default,
what `timezone_abbreviations = 'Default'` loads), as data.

`FIXED` maps an abbreviation (lower case, as PostgreSQL matches them) to its
offset in seconds east of UTC and whether it is a daylight-saving
abbreviation (the file's `D`); `DYNAMIC` maps the abbreviations whose
meaning changed over time to the zone whose history decides it (`MSK` is
+03 or +04 depending on the date, as Europe/Moscow says).
"""

from __future__ import annotations

FIXED = {
    "eat": (10800, False), "sast": (7200, False), "wat": (3600, False), "act": (-18000, False),
    "akdt": (-28800, True), "akst": (-32400, False), "bot": (-14400, False), "bra": (-10800, False),
    "brst": (-7200, True), "brt": (-10800, False), "cot": (-18000, False), "cdt": (-18000, True),
    "clst": (-10800, True), "cst": (-21600, False), "edt": (-14400, True), "egst": (0, True),
    "egt": (-3600, False), "est": (-18000, False), "fnt": (-7200, False), "fnst": (-3600, True),
    "gft": (-10800, False), "mdt": (-21600, True), "mst": (-25200, False), "ndt": (-9000, True),
    "nft": (-12600, False), "nst": (-12600, False), "pet": (-18000, False), "pdt": (-25200, True),
    "pmdt": (-7200, True), "pmst": (-10800, False), "pst": (-28800, False), "pyst": (-10800, True),
    "uyst": (-7200, True), "uyt": (-10800, False), "wgst": (-7200, True), "wgt": (-10800, False),
    "ddut": (36000, False), "aft": (16200, False), "almt": (21600, False), "almst": (25200, True),
    "amt": (-14400, False), "bdt": (21600, False), "bnt": (28800, False), "bort": (28800, False),
    "btt": (21600, False), "cct": (28800, False), "hkt": (28800, False), "ict": (25200, False),
    "idt": (10800, True), "irt": (12600, False), "ist": (7200, False), "jayt": (32400, False),
    "jst": (32400, False), "kdt": (36000, True), "kgst": (21600, True), "kst": (32400, False),
    "mmt": (23400, False), "myt": (28800, False), "npt": (20700, False), "pht": (28800, False),
    "pkt": (18000, False), "pkst": (21600, True), "tjt": (18000, False), "ulast": (32400, True),
    "uzst": (21600, True), "uzt": (18000, False), "xjt": (21600, False), "yekst": (21600, True),
    "adt": (-10800, True), "ast": (-14400, False), "azost": (0, True), "azot": (-3600, False),
    "acsst": (37800, True), "acdt": (37800, True), "acst": (34200, False), "acwst": (31500, False),
    "aesst": (39600, True), "aedt": (39600, True), "aest": (36000, False), "awsst": (32400, True),
    "awst": (28800, False), "cadt": (37800, True), "cast": (34200, False), "lhst": (37800, False),
    "ligt": (36000, False), "nzt": (43200, False), "sadt": (37800, True), "wadt": (28800, True),
    "wast": (25200, False), "wdt": (32400, True), "gmt": (0, False), "uct": (0, False), "ut": (0, False),
    "utc": (0, False), "z": (0, False), "zulu": (0, False), "bst": (3600, True), "bdst": (7200, True),
    "cest": (7200, True), "cet": (3600, False), "cetdst": (7200, True), "eest": (10800, True),
    "eet": (7200, False), "eetdst": (10800, True), "fet": (10800, False), "mest": (7200, True),
    "mesz": (7200, True), "met": (3600, False), "metdst": (7200, True), "mez": (3600, False),
    "msd": (14400, True), "wet": (0, False), "wetdst": (3600, True), "cxt": (25200, False),
    "mut": (14400, False), "must": (18000, True), "mvt": (18000, False), "ret": (14400, False),
    "sct": (14400, False), "tft": (18000, False), "chadt": (49500, True), "chast": (45900, False),
    "chut": (36000, False), "fjst": (46800, True), "fjt": (43200, False), "galt": (-21600, False),
    "gamt": (-32400, False), "gilt": (43200, False), "hst": (-36000, False), "mart": (-34200, False),
    "mht": (43200, False), "mpt": (36000, False), "nzdt": (46800, True), "nzst": (43200, False),
    "pgt": (36000, False), "pont": (39600, False), "pwt": (32400, False), "taht": (-36000, False),
    "tot": (46800, False), "trut": (36000, False), "tvt": (43200, False), "vut": (39600, False),
    "wakt": (43200, False), "wft": (43200, False), "yapt": (36000, False),
}
DYNAMIC = {
    "art": "America/Argentina/Buenos_Aires", "arst": "America/Argentina/Buenos_Aires",
    "clt": "America/Santiago", "gyt": "America/Guyana", "pyt": "America/Asuncion",
    "vet": "America/Caracas", "davt": "Antarctica/Davis", "mawt": "Antarctica/Mawson",
    "amst": "Asia/Yerevan", "anast": "Asia/Anadyr", "anat": "Asia/Anadyr", "azst": "Asia/Baku",
    "azt": "Asia/Baku", "gest": "Asia/Tbilisi", "get": "Asia/Tbilisi", "irkst": "Asia/Irkutsk",
    "irkt": "Asia/Irkutsk", "kgt": "Asia/Bishkek", "krast": "Asia/Krasnoyarsk", "krat": "Asia/Krasnoyarsk",
    "lkt": "Asia/Colombo", "magst": "Asia/Magadan", "magt": "Asia/Magadan", "novst": "Asia/Novosibirsk",
    "novt": "Asia/Novosibirsk", "omsst": "Asia/Omsk", "omst": "Asia/Omsk", "petst": "Asia/Kamchatka",
    "pett": "Asia/Kamchatka", "sgt": "Asia/Singapore", "tmt": "Asia/Ashgabat", "ulat": "Asia/Ulaanbaatar",
    "vlast": "Asia/Vladivostok", "vlat": "Asia/Vladivostok", "yakst": "Asia/Yakutsk",
    "yakt": "Asia/Yakutsk", "yekt": "Asia/Yekaterinburg", "fkst": "Atlantic/Stanley",
    "fkt": "Atlantic/Stanley", "lhdt": "Australia/Lord_Howe", "msk": "Europe/Moscow",
    "volt": "Europe/Volgograd", "iot": "Indian/Chagos", "ckt": "Pacific/Rarotonga",
    "easst": "Pacific/Easter", "east": "Pacific/Easter", "kost": "Pacific/Kosrae",
    "lint": "Pacific/Kiritimati", "nut": "Pacific/Niue", "tkt": "Pacific/Fakaofo",
}

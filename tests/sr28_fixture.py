"""A tiny SR28 in the real file format (`^`-separated, `~`-quoted, latin-1), for fast offline tests."""

from pathlib import Path

FOOD_DES = [
    "~09003~^~0900~^~Apples, raw, with skin~^~APPLES,RAW,WITH SKIN~^~~^~~^~Y~^~Core and stem~^10^~Malus domestica~^6.25^3.36^8.37^3.60",
    "~20045~^~2000~^~Rice, white, long-grain, regular, enriched, cooked~^~RICE~^~~^~~^~Y~^~~^0^~~^5.95^3.82^8.37^4.16",
    "~01123~^~0100~^~Egg, whole, raw, fresh~^~EGG~^~~^~~^~Y~^~Shell~^12^~~^6.25^4.36^9.02^3.68",
    "~99999~^~0100~^~Crème brûlée, café style~^~CREME~^~~^~~^~~^~~^0^~~^^^^",
]
FD_GROUP = ["~0900~^~Fruits and Fruit Juices~", "~2000~^~Cereal Grains and Pasta~", "~0100~^~Dairy and Egg Products~"]
NUT_DATA = [
    "~09003~^~208~^52^0^^~4~^~~^~~^~~^^^^^^^~~^08/2010^",
    "~09003~^~203~^0.26^^^~1~^~~^~~^~~^^^^^^^~~^^",
    "~09003~^~204~^0.17^^^~1~^~~^~~^~~^^^^^^^~~^^",
    "~09003~^~205~^13.81^^^~4~^~~^~~^~~^^^^^^^~~^^",
    "~20045~^~208~^130^^^~4~^~~^~~^~~^^^^^^^~~^^",
    "~20045~^~203~^2.69^^^~1~^~~^~~^~~^^^^^^^~~^^",
    "~20045~^~205~^28.17^^^~4~^~~^~~^~~^^^^^^^~~^^",
    "~01123~^~208~^143^^^~4~^~~^~~^~~^^^^^^^~~^^",
    "~01123~^~203~^12.56^^^~1~^~~^~~^~~^^^^^^^~~^^",
    "~01123~^~204~^9.51^^^~1~^~~^~~^~~^^^^^^^~~^^",
    "~01123~^~205~^0.72^^^~1~^~~^~~^~~^^^^^^^~~^^",
    "~99999~^~208~^300^^^~4~^~~^~~^~~^^^^^^^~~^^",
    "~99999~^~301~^5^^^~4~^~~^~~^~~^^^^^^^~~^^",
]
WEIGHT = [
    "~09003~^1^1^~cup, quartered or chopped~^125^^",
    "~09003~^4^1^~medium (3\" dia)~^182^113^20.572",
    "~20045~^1^1^~cup~^158^^",
    "~01123~^1^1^~large~^50^^",
]
NUTR_DEF = ["~208~^~kcal~^~ENERC_KCAL~^~Energy~^~0~^~300~"]


def write_sr28(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in {"FOOD_DES.txt": FOOD_DES, "FD_GROUP.txt": FD_GROUP, "NUT_DATA.txt": NUT_DATA,
                        "WEIGHT.txt": WEIGHT, "NUTR_DEF.txt": NUTR_DEF}.items():  # fmt: skip
        (directory / name).write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))
    return directory

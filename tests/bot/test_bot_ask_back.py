"""Ask back about unknown foods, end to end through the bot's ASGI app over loopback (LOCAL STAND-INS of the
model server and Twilio, the small real USDA table): the question, its answer logged and kept as a labelled
crop with the photo's bytes, expiry, the gallery naming a taught food, and delete removing all of it."""

import hashlib
import json
import time

import pytest

from bot.coach.commands import HELP
from bot.devtools.standins import standin_embedding, standin_item, standin_unknown_item
from bot.storage.photo_store import LocalPhotoStore

BOB, CAROL, DAVE = "+15550002", "+15550003", "+15550004"
LEFT = (10.0, 10.0, 200.0, 200.0)  # of the stand-in's 640×480 image
RIGHT = (460.0, 10.0, 630.0, 200.0)


@pytest.fixture
def ask_bot(make_bot, usda_tables_dir, tmp_path):
    """`ask_bot(**settings)`: the bot with the small USDA table and a photo store in tmp_path/photos."""
    return lambda **overrides: make_bot(
        nutrition_dir=usda_tables_dir, coach="local", photo_store=str(tmp_path / "photos"), **overrides
    )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_numbered_answer_logs_the_food_with_the_servers_grams_and_keeps_the_crop_and_the_photo(
    ask_bot, usda_table, tmp_path
):
    bot = ask_bot()
    bot.model.standin.items = (
        standin_item("apple", 180, 52),
        standin_unknown_item(("pizza", 0.4), ("pasta", 0.3), grams=200, box=LEFT),
    )
    photo = bot.jpeg(color="blue")
    (first,) = bot.send_photo(photo)
    assert "Apple ~180 g" in first
    assert "I can't tell what the food on the left is (~200 g, not counted yet): (1) pizza, (2) pasta, or tell me" in (
        first
    )
    assert "Any food allergies" not in first  # one question per reply: ours
    assert bot.model.standin.queries[-1] == {"embed": "true"}

    (answer,) = bot.send("2")
    pasta = usda_table.nutrients("20121", 200, whole_item=False)
    assert answer.startswith("Got it: pasta.")
    assert f"Pasta ~200 g (160–240 g), {pasta.kcal:.0f} kcal" in answer
    assert f"*Meal: {94 + round(pasta.kcal):,} kcal*" in answer and "Today so far:" in answer
    user = bot.user_id()
    (meal,) = bot.store.meals(user)
    assert [(i.name, i.grams) for i in meal.items] == [("apple", 180), ("20121", 200)]
    assert bot.store.day_totals(user, meal.day).meals == 1  # the same meal, not a second one
    (crop,) = bot.store.labelled_crops(user)
    assert (crop.label, crop.ndb, crop.display_name, crop.how) == ("20121", "20121", "Pasta", "choice")
    assert crop.answer == "2" and crop.photo_sha256 == _sha(photo)
    assert crop.box == {"xmin": 10.0, "ymin": 10.0, "xmax": 200.0, "ymax": 200.0}
    assert crop.image == {"width": 640, "height": 480}
    assert [s["name"] for s in crop.model_output["suggestions"]] == ["pizza", "pasta"]
    assert LocalPhotoStore(tmp_path / "photos").get(_sha(photo)) == photo  # ours, whatever Twilio keeps
    assert bot.store.stored_photos(user) == [_sha(photo)]
    assert bot.store.photo_question(user) is None


@pytest.mark.parametrize("said", ["it's pasta", "Pasta", "it was pasta!"])
def test_a_free_text_answer_is_read_as_a_typed_food_and_unsized_food_gets_its_household_portion(
    ask_bot, usda_table, said
):
    bot = ask_bot()
    bot.model.standin.items = (standin_unknown_item(("pizza", 0.4), ("bread", 0.2)),)
    (question,) = bot.send_photo()
    assert "(1) pizza, (2) bread" in question
    assert bot.store.meals(bot.user_id()) == []

    (answer,) = bot.send(said)
    portion = usda_table.nutrients("20121", 124, whole_item=False)
    assert f"Pasta ~125 g (125–125 g), {portion.kcal:.0f} kcal (1 cup spaghetti not packed, a typical portion)" in (
        answer
    )
    (meal,) = bot.store.meals(bot.user_id())
    assert [(i.name, i.grams) for i in meal.items] == [("20121", 124.0)]
    (crop,) = bot.store.labelled_crops(bot.user_id())
    assert (crop.label, crop.answer, crop.how) == ("20121", said, "text")


def test_an_answer_naming_no_known_food_offers_the_tables_matches(ask_bot):
    bot = ask_bot()
    bot.model.standin.items = (standin_unknown_item(("pizza", 0.4), grams=150),)
    bot.send_photo()
    (unknown,) = bot.send("it's kangaroo")
    assert unknown.startswith('I don\'t know "kangaroo"; try a common name') and "(1) pizza" in unknown
    (which,) = bot.send("it was couscous")
    assert which.startswith('Which "couscous" do you mean?') and "(1) couscous, cooked, (2) couscous, dry" in which
    (answer,) = bot.send("1")
    assert answer.startswith("Got it: couscous, cooked.")
    assert [i.name for i in bot.store.meals(bot.user_id())[0].items] == ["20029"]


def test_commands_and_typed_meals_leave_the_question_waiting(ask_bot):
    bot = ask_bot()
    bot.model.standin.items = (standin_unknown_item(("pasta", 0.4), grams=200),)
    bot.send_photo()
    assert bot.send("help") == [HELP]
    (typed,) = bot.send("2 eggs and a slice of toast")
    assert typed.startswith("Egg")
    assert bot.store.photo_question(bot.user_id()) is not None
    (answer,) = bot.send("1")
    assert answer.startswith("Got it: pasta.")
    names = [[i.name for i in m.items] for m in bot.store.meals(bot.user_id())]
    assert names == [["01123", "18070"], ["20121"]]


def test_several_unknown_foods_are_asked_about_one_at_a_time(ask_bot):
    bot = ask_bot()
    bot.model.standin.items = (
        standin_unknown_item(("pasta", 0.4), grams=200, box=LEFT),
        standin_unknown_item(("rice", 0.3), grams=150, box=RIGHT),
    )
    (first,) = bot.send_photo()
    assert "the food on the left" in first and "on the right" not in first
    assert "(Then I'll ask about 1 more food I didn't recognise.)" in first
    (answer,) = bot.send("1")
    assert answer.startswith("Got it: pasta.")
    assert answer.splitlines()[-1].startswith("I can't tell what the food on the right is (~150 g, not counted yet)")
    (second,) = bot.send("rice")
    assert second.startswith("Got it: white rice.")
    (meal,) = bot.store.meals(bot.user_id())
    assert [i.name for i in meal.items] == ["20121", "20045"]
    assert len(bot.store.labelled_crops(bot.user_id())) == 2


def test_a_question_expires_and_a_new_photo_with_its_own_unknown_food_replaces_it(ask_bot):
    bot = ask_bot(question_ttl_s=0.3)
    bot.model.standin.items = (standin_unknown_item(("pasta", 0.4), grams=200),)
    bot.send_photo()
    time.sleep(0.5)
    (late,) = bot.send("1")
    assert "Got it" not in late
    assert bot.store.photo_question(bot.user_id()) is None and bot.store.labelled_crops() == []
    assert "question_expired" in [e.kind for e in bot.store.events()]

    bot = ask_bot()
    bot.send_photo()
    bot.model.standin.items = (standin_unknown_item(("rice", 0.4), grams=150),)
    bot.send_photo(bot.jpeg(color="green"))
    (answer,) = bot.send("1")
    assert answer.startswith("Got it: white rice.") and bot.store.photo_question(bot.user_id()) is None


def test_the_gallery_names_a_food_the_person_taught_it_and_leaves_dissimilar_crops_unknown(ask_bot):
    bot = ask_bot()
    bot.model.standin.items = (standin_unknown_item(("pizza", 0.4), grams=200, embedding=standin_embedding(0)),)
    bot.send_photo()
    bot.send("it's pasta")
    (crop,) = bot.store.labelled_crops(bot.user_id())
    assert crop.embedding is not None and len(crop.embedding) == 2 * 1280

    similar = standin_embedding(0, blend=0.3, towards=1)  # cosine 0.96
    bot.model.standin.items = (standin_unknown_item(("pizza", 0.4), grams=220, embedding=similar),)
    (named,) = bot.send_photo(bot.jpeg(color="green"))
    assert named.startswith("Pasta ~220 g") and "I can't tell" not in named
    assert "I recognised the pasta from a photo you taught me." in named
    assert bot.store.photo_question(bot.user_id()) is None
    assert [i.name for i in bot.store.meals(bot.user_id())[-1].items] == ["20121"]

    bot.model.standin.items = (standin_unknown_item(("pizza", 0.4), grams=200, embedding=standin_embedding(7)),)
    (asked,) = bot.send_photo(bot.jpeg(color="white"))
    assert "I can't tell what the food in the middle is" in asked


def test_other_peoples_labels_name_a_food_only_after_enough_people_agree(ask_bot):
    bot = ask_bot(gallery_confirmations=2)
    crop = standin_unknown_item(("pizza", 0.4), grams=200, embedding=standin_embedding(3))
    bot.model.standin.items = (crop,)

    def photo_then(sender: str, answer: str | None) -> str:
        (reply,) = bot.send_photo(sender=sender)
        if answer is not None:
            bot.send(answer, sender=sender)
        return reply

    assert "I can't tell" in photo_then(bot.sender, "it's pasta")  # Alice teaches pasta
    assert "I can't tell" in photo_then(BOB, "rice")  # one person's label reaches nobody else; Bob says rice
    assert "I can't tell" in photo_then(CAROL, "pasta")  # one for pasta, one for rice from others: not yet
    named = photo_then(DAVE, None)  # Alice and Carol agree
    assert named.startswith("Pasta ~200 g") and "several people taught me" in named
    assert "I recognised the white rice" in photo_then(BOB, None)  # Bob's own label comes first for him


def test_delete_my_data_removes_the_photos_nobody_else_sent_and_the_labelled_crops(ask_bot, tmp_path):
    bot = ask_bot()
    photos = LocalPhotoStore(tmp_path / "photos")
    shared, own = bot.jpeg(color="blue"), bot.jpeg(color="yellow")
    bot.model.standin.items = (standin_unknown_item(("pasta", 0.4), grams=200, embedding=standin_embedding(2)),)
    bot.send_photo(shared)
    bot.send("1")
    bot.send_photo(shared, sender=BOB)
    bot.send("1", sender=BOB)
    bot.send_photo(own)
    assert photos.exists(_sha(shared)) and photos.exists(_sha(own))
    alice = bot.user_id()

    exported = json.loads("".join(bot.send("export my data")))
    assert [c["label"] for c in exported["labelled_crops"]] == ["20121"] and exported["labelled_crops"][0]["embedding"]
    assert len(exported["stored_photos"]) == 2

    bot.send("delete my data")
    bot.send("yes delete")
    assert not photos.exists(_sha(own))
    assert photos.exists(_sha(shared))  # Bob sent it too
    assert [c.user_id for c in bot.store.labelled_crops()] == [bot.user_id(BOB)]
    assert bot.store.stored_photos(alice) == [] and bot.store.photo_question(alice) is None

    bot.send("delete my data", sender=BOB)
    bot.send("yes delete", sender=BOB)
    assert not photos.exists(_sha(shared))
    assert bot.store.labelled_crops() == [] and bot.store.stored_photos() == []


def test_the_gallery_also_renames_a_food_the_model_named_wrongly(ask_bot):
    """A taught food the model misnames as one it knows (most new foods, reports/openset/learning_curve.json) is
    named from the gallery too; an item whose crop matches nothing taught keeps the model's name."""
    bot = ask_bot()
    bot.model.standin.items = (standin_unknown_item(("pizza", 0.4), grams=200, embedding=standin_embedding(0)),)
    bot.send_photo()
    bot.send("it's pasta")
    misnamed = {**standin_item("bread", 210, 265), "embedding": standin_embedding(0, blend=0.3, towards=1)}
    elsewhere = {**standin_item("apple", 180, 52), "embedding": standin_embedding(9)}
    bot.model.standin.items = (misnamed, elsewhere)
    (reply,) = bot.send_photo(bot.jpeg(color="green"))
    assert reply.startswith("Pasta ~210 g") and "Apple ~180 g" in reply and "Bread ~" not in reply
    assert [i.name for i in bot.store.meals(bot.user_id())[-1].items] == ["20121", "apple"]

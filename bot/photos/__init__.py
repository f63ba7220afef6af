"""Photos → meals: download a message's photos from Twilio (`media`), ask the model server over HTTP
(`analysis_client`), log the meal (`meal_analysis`) and word its reply (`meal_reply`)."""

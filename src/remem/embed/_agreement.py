"""The fixed sentence set on which an exported model is compared with the original one
(``scripts/export_onnx.py`` for MiniLM; ``reference-mpnet.npy`` holds the original
all-mpnet-base-v2 vectors of these sentences, in this order)."""

from __future__ import annotations

#: Varied sentences (chat-like, factual, very short, code, non-English, over-long).
SENTENCES: list[str] = [
    "I adopted a puppy last week and she already knows how to sit.",
    "Getting a new dog is a big responsibility.",
    "The stock market fell sharply after the interest rate announcement.",
    "My favourite programming language is Python, but I use Rust at work.",
    "Remind me to call my mother on Sunday afternoon.",
    "The meeting with the design team was moved to Thursday at 3pm.",
    "I'm allergic to peanuts, so please avoid recipes with nuts.",
    "We are planning a trip to Japan in April to see the cherry blossoms.",
    "My daughter's name is Emma and she turns seven in November.",
    "Can you summarise the last chapter of the book we discussed?",
    "The database migration failed because of a missing index.",
    "I prefer tea over coffee in the mornings.",
    "The weather in Lisbon was sunny and warm all week.",
    "She works as a nurse at the children's hospital downtown.",
    "Our landlord raised the rent by ten percent this year.",
    "I started running three times a week to train for a half marathon.",
    "The quarterly report is due at the end of the month.",
    "He never eats meat; he has been vegetarian since college.",
    "What was the name of that Italian restaurant we liked?",
    "The server crashed at midnight and the on-call engineer restarted it.",
    "hello",
    "ok",
    "Thanks!",
    "yes please",
    "42",
    "https://example.com/docs/api/v2?query=embedding",
    "def add(a, b):\n    return a + b",
    "SELECT name, email FROM users WHERE active = 1 ORDER BY created_at DESC;",
    "Le chat est assis sur le tapis.",
    "Der Zug nach Berlin hat zwanzig Minuten Verspätung.",
    "¿Dónde está la biblioteca más cercana?",
    "東京は日本の首都です。",
    "Emoji test 🎉🐶 with some unicode — dashes and “quotes”.",
    "   leading and trailing spaces   ",
    "ALL CAPS SENTENCE ABOUT THE BUDGET MEETING",
    "The mitochondria is the powerhouse of the cell.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "The Treaty of Westphalia was signed in 1648.",
    "Quantum computers use qubits that can exist in superposition.",
    "My car needs new tyres before the winter.",
    "I lost my keys somewhere between the office and the train station.",
    "Our team adopted a four-day work week as a trial.",
    "She speaks fluent Spanish and is learning Portuguese.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "I moved from Chicago to Denver in 2019 for a new job.",
    "Please don't schedule anything before 10am on Mondays.",
    "The kids are on summer break until the first week of September.",
    "My laptop battery only lasts about two hours now.",
    "We decided to name the cat Biscuit.",
    "I have a dentist appointment next Tuesday at 9.",
    (
        "This is a deliberately long paragraph meant to exceed the model's maximum "
        "sequence length so that truncation is exercised during the agreement check. "
    )
    * 12,
]


#: Calibration for the outlier channels of ``rowwise-int8`` (kept apart from the
#: sample sentences that measure agreement). The outliers are structural (mostly the
#: ``[CLS]`` row), so a few dozen varied texts find them.
CALIBRATION_SENTENCES: list[str] = [
    "hi", "no", "Sure!", "What?", "good morning", "ok thanks", "Got it, see you then.",
    "My brother lives in Toronto and works as an electrician.",
    "We watched a documentary about octopuses last night.",
    "Can you remind me what I said about the garden project?",
    "I've been learning to play the violin since March.",
    "The flight to Madrid leaves at 6:40 tomorrow morning.",
    "Honestly I think the new manager is doing a great job.",
    "She bought a second-hand bike for her commute.",
    "Our book club is reading a novel about a lighthouse keeper.",
    "I can't eat gluten, so pasta is usually off the menu.",
    "He volunteered at the animal shelter every Saturday in 2021.",
    "The printer on the third floor keeps jamming.",
    "Let's move the retrospective to Friday afternoon.",
    "I ran my first 10k race in 52 minutes!",
    "My grandmother taught me how to bake bread.",
    "What time does the pharmacy close on weekends?",
    "The API returns a 404 when the user id is missing.",
    "git rebase -i HEAD~3",
    "for i in range(10): print(i)",
    "Il pleut depuis trois jours à Paris.",
    "Wir fahren im Sommer an die Ostsee.",
    "Me encanta la comida mexicana, sobre todo los tacos.",
    "今日はとても暑いですね。",
    "🎂 Happy birthday!!! 🎉",
    "lol that's hilarious",
    "The invoice #4471 was paid on 2023-05-02.",
    "I'm thinking about switching careers and becoming a teacher.",
    "Caroline said the adoption agency called her back yesterday.",
    "We painted the kids' room light green over the weekend.",
    "Is it better to water tomatoes in the morning or in the evening?",
    "My favourite band is playing in Lisbon next month and I got tickets.",
    (
        "After years of renting we finally bought a small house near the river, and the "
        "first thing we did was plant an apple tree in the back garden."
    ),
    "Meeting notes: budget approved, hiring freeze lifted, launch moved to Q3. " * 6,
]

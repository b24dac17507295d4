"""bankbot: a Chinese banking assistant on Rasa Open Source 3.6."""
